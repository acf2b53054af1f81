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
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/holdfast-ci/holdfast/grading/app/github"
	"github.com/holdfast-ci/holdfast/grading/app/jobs"
	"github.com/holdfast-ci/holdfast/grading/app/store"
)

// maxPayload is GitHub's own cap on a webhook payload.
const maxPayload = 25 << 20

// Handler serves POST /webhooks/github.
type Handler struct {
	secret []byte
	store  *store.Store
	river  *river.Client[pgx.Tx]
	log    *slog.Logger
	intake *store.Intake
}

// Opts tunes a Handler; nil means the defaults.
type Opts struct {
	// Intake tunes the group commit of pushes (nil: store.IntakeOpts' defaults).
	Intake *store.IntakeOpts
}

// New returns a handler with the default Opts. It refuses an empty secret: without one,
// anybody could make the App grade anything.
func New(secret []byte, st *store.Store, rc *river.Client[pgx.Tx], log *slog.Logger) (*Handler, error) {
	return NewWithOpts(secret, st, rc, log, nil)
}

// NewWithOpts is New with opts.
func NewWithOpts(secret []byte, st *store.Store, rc *river.Client[pgx.Tx], log *slog.Logger, opts *Opts) (*Handler, error) {
	if len(secret) == 0 {
		return nil, errors.New("a webhook secret is required (GITHUB_WEBHOOK_SECRET)")
	}
	if opts == nil {
		opts = &Opts{}
	}
	h := &Handler{secret: secret, store: st, river: rc, log: log}
	h.intake = st.NewIntake(h.enqueue, opts.Intake)
	return h, nil
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
	var p payload
	if err := json.Unmarshal(body, &p); err != nil {
		return reply(http.StatusBadRequest, "payload is not JSON: "+err.Error())
	}
	ctx := r.Context()
	a, err := h.handle(ctx, event, delivery, p, false)
	// A connection the database ended (a Postgres restart: 57P01) fails the first transaction
	// that takes it from the pool; storing is idempotent per delivery, so try again at once
	// rather than answer 500 and wait for the recovery scan. A push tries again alone, so that
	// one that fails every time cannot fail the deliveries it was batched with again.
	for wait := 50 * time.Millisecond; err != nil && wait <= 400*time.Millisecond && ctx.Err() == nil; wait *= 2 {
		h.log.Warn("webhook: storing the delivery failed; trying again", "event", event, "delivery", delivery, "err", err)
		time.Sleep(wait)
		a, err = h.handle(ctx, event, delivery, p, true)
	}
	if err != nil {
		h.log.Error("webhook", "event", event, "delivery", delivery, "err", err)
		return reply(http.StatusInternalServerError, "could not store the delivery; Holdfast asks GitHub to redeliver it once it can")
	}
	h.log.Info("webhook", "event", event, "delivery", delivery, "status", a.code, "result", a.body["result"])
	return a
}

// handle answers one delivery; retry says an earlier try failed.
func (h *Handler) handle(ctx context.Context, event, delivery string, p payload, retry bool) (answer, error) {
	repo := p.Repository
	switch event {
	case "ping":
		return reply(http.StatusOK, "pong"), nil
	case "push":
		switch {
		case !strings.HasPrefix(p.Ref, "refs/heads/"):
			return reply(http.StatusAccepted, "not a branch push ("+p.Ref+"): nothing to grade"), nil
		case p.Deleted:
			return reply(http.StatusAccepted, "branch deleted: nothing to grade"), nil
		}
		return h.queueRun(ctx, delivery, repo, p.After, strings.TrimPrefix(p.Ref, "refs/heads/"), p.Pusher.Name, false, retry)
	case "check_run":
		rerun := p.Action == "rerequested" || (p.Action == "requested_action" && p.RequestedAction.Identifier == github.RerunAction)
		if !rerun {
			return reply(http.StatusAccepted, "check_run "+p.Action+": nothing to do"), nil
		}
		return h.queueRun(ctx, delivery, repo, p.CheckRun.HeadSHA, p.CheckRun.CheckSuite.HeadBranch, p.Sender.Login, true, retry)
	case "check_suite":
		if p.Action != "rerequested" {
			// "requested" arrives with every push, which the push event already graded.
			return reply(http.StatusAccepted, "check_suite "+p.Action+": graded from the push"), nil
		}
		return h.queueRun(ctx, delivery, repo, p.CheckSuite.HeadSHA, p.CheckSuite.HeadBranch, p.Sender.Login, true, retry)
	case "pull_request":
		return h.pullRequest(ctx, delivery, p)
	case "installation":
		inst := p.Installation
		var err error
		if p.Action == "deleted" {
			err = h.store.DeleteInstallation(ctx, inst.ID)
		} else if err = h.store.UpsertInstallation(ctx, inst.ID, inst.Account.Login, inst.Account.Type); err == nil {
			err = h.store.SetInstallationRepos(ctx, inst.ID, repos(p.Repositories), nil)
		}
		return reply(http.StatusOK, "installation "+p.Action), err
	case "installation_repositories":
		inst := p.Installation
		err := h.store.UpsertInstallation(ctx, inst.ID, inst.Account.Login, inst.Account.Type)
		if err == nil {
			err = h.store.SetInstallationRepos(ctx, inst.ID, repos(p.RepositoriesAdded), repos(p.RepositoriesRemoved))
		}
		return reply(http.StatusOK, "installation repositories "+p.Action), err
	}
	return reply(http.StatusAccepted, "event "+event+" is not used"), nil
}

func repos(rs []repository) []store.Repo {
	var out []store.Repo
	for _, r := range rs {
		out = append(out, store.Repo{ID: r.ID, FullName: r.FullName})
	}
	return out
}

// queueRun stores a submission, its run and its jobs in one transaction, shared with the pushes
// that arrive beside it (store.Intake). rerun says a check run or suite was re-requested rather
// than pushed; retry that an earlier try failed: it is stored alone.
func (h *Handler) queueRun(ctx context.Context, delivery string, repo repository, sha, branch, who string, rerun, retry bool) (answer, error) {
	if len(sha) != 40 || strings.Trim(sha, "0") == "" || branch == "" {
		return reply(http.StatusBadRequest, "no commit or branch to grade"), nil
	}
	push := store.IncomingPush{Delivery: delivery, RepoID: repo.ID, Owner: repo.Owner.Login, Name: repo.Name,
		SHA: sha, Branch: branch, Who: who}
	storeFn := h.intake.Store
	if retry {
		storeFn = h.intake.StoreAlone
	}
	res, err := storeFn(ctx, push)
	if err != nil {
		return answer{}, err
	}
	switch res.Outcome {
	case store.PushNoAssignment:
		return reply(http.StatusAccepted, repo.FullName+" is not an assignment repository"), nil
	case store.PushRefactor:
		return h.refactorCommit(ctx, delivery, res.Assignment, sha, rerun)
	case store.PushSeen:
		return reply(http.StatusOK, "delivery seen before: nothing new to do"), nil
	}
	return answer{http.StatusAccepted, map[string]any{"result": "queued", "run_id": res.Run.ID, "superseded": res.Run.Superseded}}, nil
}

// enqueue inserts a batch's jobs: each new run's publication (its queued check run) and
// grading, and the publication of each run it superseded (their check runs complete as skipped
// now, not when a runner gets to them).
func (h *Handler) enqueue(ctx context.Context, tx pgx.Tx, runs []store.NewRun) error {
	batch := make([]river.InsertManyParams, 0, 2*len(runs))
	for _, r := range runs {
		batch = append(batch, river.InsertManyParams{Args: jobs.PublishArgs{RunID: r.ID}}, river.InsertManyParams{Args: jobs.GradeArgs{RunID: r.ID}})
		for _, old := range r.Superseded {
			batch = append(batch, river.InsertManyParams{Args: jobs.PublishArgs{RunID: old}})
		}
	}
	if _, err := h.river.InsertManyTx(ctx, tx, batch); err != nil {
		return fmt.Errorf("enqueue %d runs: %w", len(runs), err)
	}
	return nil
}

func (h *Handler) pullRequest(ctx context.Context, delivery string, p payload) (answer, error) {
	var open bool
	switch p.Action {
	case "opened", "synchronize", "reopened":
		open = true
	case "closed":
	default:
		return reply(http.StatusAccepted, "pull_request "+p.Action+": nothing to do"), nil
	}
	repo := p.Repository
	a, err := h.store.AssignmentByRepo(ctx, repo.ID, repo.Owner.Login, repo.Name)
	if errors.Is(err, store.ErrNotFound) {
		return reply(http.StatusAccepted, repo.FullName+" is not an assignment repository"), nil
	}
	if err != nil {
		return answer{}, err
	}
	pr := p.PullRequest
	if err := h.store.UpsertPullRequest(ctx, a.ID, pr.Number, pr.Head.Ref, pr.Head.SHA, open); err != nil {
		return answer{}, err
	}
	if refactor, err := h.store.IsRefactor(ctx, a.Challenge); err != nil || (refactor && open) {
		return h.comparePullRequest(ctx, delivery, a, p, err)
	}
	return reply(http.StatusOK, fmt.Sprintf("pull request #%d linked (open: %v)", pr.Number, open)), nil
}
