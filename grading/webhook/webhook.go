// Package webhook receives GitHub's deliveries for the App. It trusts nothing it cannot verify:
// a delivery without a valid X-Hub-Signature-256 is refused before anything is stored, and a
// delivery id seen before is acknowledged without effect. A push to an assignment repository is
// stored together with its grading job in one transaction, so nothing is lost or done twice.
package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	gh "github.com/google/go-github/v66/github"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/holdfast-ci/holdfast/grading/github"
	"github.com/holdfast-ci/holdfast/grading/queue"
	"github.com/holdfast-ci/holdfast/grading/store"
)

// maxPayload is GitHub's own cap on a webhook payload.
const maxPayload = 25 << 20

// Handler serves POST /webhooks/github.
type Handler struct {
	secret []byte
	store  *store.Store
	river  *river.Client[pgx.Tx]
	log    *slog.Logger
}

// New returns a handler. It refuses an empty secret: without one, anybody could make the App
// grade anything.
func New(secret []byte, st *store.Store, rc *river.Client[pgx.Tx], log *slog.Logger) (*Handler, error) {
	if len(secret) == 0 {
		return nil, errors.New("a webhook secret is required (GITHUB_WEBHOOK_SECRET)")
	}
	return &Handler{secret: secret, store: st, river: rc, log: log}, nil
}

// Signature returns the X-Hub-Signature-256 value of body under secret.
func Signature(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

type answer struct {
	code int
	body map[string]any
}

func reply(code int, reason string) answer {
	return answer{code, map[string]any{"result": reason}}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a := h.serve(r)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.code)
	_ = json.NewEncoder(w).Encode(a.body)
}

func (h *Handler) serve(r *http.Request) answer {
	if r.Method != http.MethodPost {
		return reply(http.StatusMethodNotAllowed, "POST only")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxPayload+1))
	if err != nil || len(body) > maxPayload {
		return reply(http.StatusBadRequest, "payload unreadable or over 25 MiB")
	}
	// Only SHA-256: the SHA-1 X-Hub-Signature is not accepted as a fallback.
	sig := r.Header.Get("X-Hub-Signature-256")
	if sig == "" || !hmac.Equal([]byte(sig), []byte(Signature(h.secret, body))) {
		return reply(http.StatusUnauthorized, "missing or invalid X-Hub-Signature-256")
	}
	event, delivery := r.Header.Get("X-GitHub-Event"), r.Header.Get("X-GitHub-Delivery")
	if event == "" || delivery == "" {
		return reply(http.StatusBadRequest, "X-GitHub-Event and X-GitHub-Delivery are required")
	}
	payload, err := gh.ParseWebHook(event, body)
	if err != nil {
		if strings.Contains(err.Error(), "unknown X-Github-Event") {
			return reply(http.StatusAccepted, "event "+event+" is not used")
		}
		return reply(http.StatusBadRequest, "payload: "+err.Error())
	}
	ctx := r.Context()
	a, err := h.handle(ctx, delivery, payload)
	if err != nil {
		h.log.Error("webhook", "event", event, "delivery", delivery, "err", err)
		return reply(http.StatusInternalServerError, "could not store the delivery; GitHub may redeliver it")
	}
	h.log.Info("webhook", "event", event, "delivery", delivery, "status", a.code, "result", a.body["result"])
	return a
}

func (h *Handler) handle(ctx context.Context, delivery string, payload any) (answer, error) {
	switch e := payload.(type) {
	case *gh.PingEvent:
		return reply(http.StatusOK, "pong"), nil
	case *gh.PushEvent:
		ref := e.GetRef()
		switch {
		case !strings.HasPrefix(ref, "refs/heads/"):
			return reply(http.StatusAccepted, "not a branch push ("+ref+"): nothing to grade"), nil
		case e.GetDeleted():
			return reply(http.StatusAccepted, "branch deleted: nothing to grade"), nil
		}
		return h.grade(ctx, delivery, e.GetRepo().GetID(), e.GetRepo().GetOwner().GetLogin(), e.GetRepo().GetName(),
			e.GetAfter(), strings.TrimPrefix(ref, "refs/heads/"), e.GetPusher().GetName())
	case *gh.CheckRunEvent:
		cr := e.GetCheckRun()
		rerun := e.GetAction() == "rerequested" ||
			(e.GetAction() == "requested_action" && e.GetRequestedAction().Identifier == github.RerunAction)
		if !rerun {
			return reply(http.StatusAccepted, "check_run "+e.GetAction()+": nothing to do"), nil
		}
		return h.grade(ctx, delivery, e.GetRepo().GetID(), e.GetRepo().GetOwner().GetLogin(), e.GetRepo().GetName(),
			cr.GetHeadSHA(), cr.GetCheckSuite().GetHeadBranch(), e.GetSender().GetLogin())
	case *gh.CheckSuiteEvent:
		if e.GetAction() != "rerequested" {
			// "requested" arrives with every push, which the push event already graded.
			return reply(http.StatusAccepted, "check_suite "+e.GetAction()+": graded from the push"), nil
		}
		cs := e.GetCheckSuite()
		return h.grade(ctx, delivery, e.GetRepo().GetID(), e.GetRepo().GetOwner().GetLogin(), e.GetRepo().GetName(),
			cs.GetHeadSHA(), cs.GetHeadBranch(), e.GetSender().GetLogin())
	case *gh.PullRequestEvent:
		return h.pullRequest(ctx, delivery, e)
	case *gh.InstallationEvent:
		inst := e.GetInstallation()
		var err error
		switch e.GetAction() {
		case "deleted":
			err = h.store.DeleteInstallation(ctx, inst.GetID())
		default:
			if err = h.store.UpsertInstallation(ctx, inst.GetID(), inst.GetAccount().GetLogin(), inst.GetAccount().GetType()); err == nil {
				err = h.store.SetInstallationRepos(ctx, inst.GetID(), repos(e.Repositories), nil)
			}
		}
		return reply(http.StatusOK, "installation "+e.GetAction()), err
	case *gh.InstallationRepositoriesEvent:
		inst := e.GetInstallation()
		err := h.store.UpsertInstallation(ctx, inst.GetID(), inst.GetAccount().GetLogin(), inst.GetAccount().GetType())
		if err == nil {
			err = h.store.SetInstallationRepos(ctx, inst.GetID(), repos(e.RepositoriesAdded), repos(e.RepositoriesRemoved))
		}
		return reply(http.StatusOK, "installation repositories "+e.GetAction()), err
	}
	return reply(http.StatusAccepted, fmt.Sprintf("%T is not used", payload)), nil
}

func repos(rs []*gh.Repository) []store.Repo {
	var out []store.Repo
	for _, r := range rs {
		out = append(out, store.Repo{ID: r.GetID(), FullName: r.GetFullName()})
	}
	return out
}

// grade stores a submission, its run and its jobs in one transaction.
func (h *Handler) grade(ctx context.Context, delivery string, repoID int64, owner, name, sha, branch, who string) (answer, error) {
	if len(sha) != 40 || strings.Trim(sha, "0") == "" {
		return reply(http.StatusBadRequest, "no commit to grade"), nil
	}
	a, err := h.store.AssignmentByRepo(ctx, repoID, owner, name)
	if errors.Is(err, store.ErrNotFound) {
		return reply(http.StatusAccepted, owner+"/"+name+" is not an assignment repository"), nil
	}
	if err != nil {
		return answer{}, err
	}
	var out answer
	err = pgx.BeginFunc(ctx, h.store.Pool, func(tx pgx.Tx) error {
		fresh, err := store.ClaimDelivery(ctx, tx, delivery, "grade")
		if err != nil || !fresh {
			out = reply(http.StatusOK, "delivery seen before: nothing new to do")
			return err
		}
		runID, superseded, err := store.CreateRun(ctx, tx, store.Submission{AssignmentID: a.ID, SHA: sha,
			Ref: "refs/heads/" + branch, Branch: branch, Pusher: who, DeliveryID: delivery})
		if err != nil {
			return err
		}
		if _, err := h.river.InsertManyTx(ctx, tx, []river.InsertManyParams{
			{Args: queue.ReportQueuedArgs{RunID: runID}},
			{Args: queue.GradeArgs{RunID: runID}},
		}); err != nil {
			return fmt.Errorf("enqueue run %d: %w", runID, err)
		}
		out = answer{http.StatusAccepted, map[string]any{"result": "queued", "run_id": runID, "superseded": superseded}}
		return nil
	})
	return out, err
}

func (h *Handler) pullRequest(ctx context.Context, delivery string, e *gh.PullRequestEvent) (answer, error) {
	var open bool
	switch e.GetAction() {
	case "opened", "synchronize", "reopened":
		open = true
	case "closed":
	default:
		return reply(http.StatusAccepted, "pull_request "+e.GetAction()+": nothing to do"), nil
	}
	repo := e.GetRepo()
	a, err := h.store.AssignmentByRepo(ctx, repo.GetID(), repo.GetOwner().GetLogin(), repo.GetName())
	if errors.Is(err, store.ErrNotFound) {
		return reply(http.StatusAccepted, repo.GetFullName()+" is not an assignment repository"), nil
	}
	if err != nil {
		return answer{}, err
	}
	pr := e.GetPullRequest()
	if err := h.store.UpsertPullRequest(ctx, a.ID, pr.GetNumber(), pr.GetHead().GetRef(), pr.GetHead().GetSHA(), open); err != nil {
		return answer{}, err
	}
	return reply(http.StatusOK, fmt.Sprintf("pull request #%d linked (open: %v)", pr.GetNumber(), open)), nil
}
