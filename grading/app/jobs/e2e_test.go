package jobs_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/app/github"
	"github.com/holdfast-ci/holdfast/grading/app/github/githubtest"
	"github.com/holdfast-ci/holdfast/grading/app/jobs"
	"github.com/holdfast-ci/holdfast/grading/app/store"
	"github.com/holdfast-ci/holdfast/grading/app/store/storetest"
	"github.com/holdfast-ci/holdfast/grading/app/webhook"
	wt "github.com/holdfast-ci/holdfast/grading/app/webhook/webhooktest"
	"github.com/holdfast-ci/holdfast/grading/docker/dockertest"
	"github.com/holdfast-ci/holdfast/scenarios/catalog"
)

const (
	secret = "e2e-secret"
	inst   = 7
	repoID = 5001
	owner  = "holdfast-org"
	name   = "pay-alice"

	reference    = "../../../scenarios/idempotentpayments/testdata/reference"
	compileError = "../../cli/testdata/compile-error"
)

type world struct {
	t    *testing.T
	st   *store.Store
	fake *githubtest.Server
	hook string
	a    store.Assignment
	n    int
}

func newWorld(t *testing.T) *world {
	t.Helper()
	st, _ := storetest.New(t)
	eng := dockertest.Engine(t)
	ctx := context.Background()
	fake := githubtest.New(t)
	fake.AddInstallation(inst, owner)
	fake.AddRepo(inst, owner, name, &githubtest.RepoOpts{ID: repoID})
	if err := st.SyncChallenges(ctx, catalog.Metadata()); err != nil {
		t.Fatal(err)
	}
	a, err := st.CreateAssignment(ctx, store.Assignment{InstallationID: inst, RepoID: repoID, Owner: owner, Name: name,
		Challenge: "idempotent-payments", User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	app, err := github.NewApp(github.Config{AppID: fake.AppID, PrivateKey: fake.PrivateKeyPEM, BaseURL: fake.URL, MaxWait: 5 * time.Second}, log)
	if err != nil {
		t.Fatal(err)
	}
	deps := jobs.Deps{Store: st, GitHub: app, Grader: &grading.Grader{Engine: eng, HardCap: 240 * time.Second, Log: log},
		Challenge: catalog.Lookup, PublicURL: "http://holdfast.test", Log: log}
	rc, err := jobs.NewClient(deps, jobs.Options{Graders: 1, Reporters: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		rc.StopAndCancel(sctx)
	})
	h, err := webhook.New([]byte(secret), st, rc, log)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &world{t: t, st: st, fake: fake, hook: srv.URL, a: a}
}

func commit(label string) string {
	s := fmt.Sprintf("%x", label)
	return (s + strings.Repeat("0", 40))[:40]
}

func (w *world) deliver(event string, p wt.Payload) map[string]any {
	w.t.Helper()
	w.n++
	resp, out := wt.Deliver(w.t, w.hook, secret, event, fmt.Sprintf("e2e-%d-%d", time.Now().UnixNano(), w.n), p)
	if resp.StatusCode >= 300 && resp.StatusCode != http.StatusAccepted {
		w.t.Fatalf("%s delivery: %d %v", event, resp.StatusCode, out)
	}
	return out
}

// push delivers a push of sha to branch whose content is dir.
func (w *world) push(branch, sha, dir string) {
	w.t.Helper()
	w.fake.SetTarball(owner, name, sha, dir)
	out := w.deliver("push", wt.Load(w.t, "push.new-branch").Repo(inst, repoID, owner, name).Push(branch, commit("before"), sha))
	if out["result"] != "queued" {
		w.t.Fatalf("push of %s: %v", sha, out)
	}
}

// completed waits until n check runs on sha have completed and returns them, oldest first.
func (w *world) completed(sha string, n int) []githubtest.CheckRun {
	w.t.Helper()
	deadline := time.Now().Add(6 * time.Minute)
	for {
		var done []githubtest.CheckRun
		for _, cr := range w.fake.CheckRuns(owner, name) {
			if cr.HeadSHA == sha && cr.Status == "completed" {
				done = append(done, cr)
			}
		}
		if len(done) >= n {
			return done
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("%d of %d check runs on %s completed after 6 minutes: %+v", len(done), n, sha[:7], w.fake.CheckRuns(owner, name))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (w *world) calls(op string) int {
	n := 0
	for _, c := range w.fake.Calls() {
		if c.OperationID == op && c.Status < 300 {
			n++
		}
	}
	return n
}

// TestPushToCheckRun is the App end to end: real webhook payloads in, River, a real grading in
// Docker, and every request to GitHub checked against its OpenAPI description by the fake.
func TestPushToCheckRun(t *testing.T) {
	w := newWorld(t)

	t.Run("reference passes", func(t *testing.T) {
		w.t = t
		w.push("main", commit("ref-1"), reference)
		cr := w.completed(commit("ref-1"), 1)[0]
		if cr.Conclusion != "success" || cr.Output.Title != "Passed · 100/100" {
			t.Fatalf("conclusion %s, title %q; want success, Passed · 100/100\n%s", cr.Conclusion, cr.Output.Title, cr.Output.Summary)
		}
		if strings.Join(cr.History, " ") != "queued in_progress completed:success" {
			t.Fatalf("history %v; want queued → in_progress → completed", cr.History)
		}
		if cr.DetailsURL == "" || len(cr.Actions) != 1 || cr.Actions[0].Identifier != github.RerunAction {
			t.Fatalf("details %q, actions %+v; want a details URL and the Re-run action", cr.DetailsURL, cr.Actions)
		}
		if !strings.Contains(cr.Output.Summary, "restart_persistence") || strings.Contains(cr.Output.Summary, "database_connection_recovery") {
			t.Fatalf("summary must list public scenarios and withhold hidden ones:\n%s", cr.Output.Summary)
		}
	})

	t.Run("a build failure is a failure with annotations", func(t *testing.T) {
		w.t = t
		w.push("main", commit("broken-1"), compileError)
		cr := w.completed(commit("broken-1"), 1)[0]
		if cr.Conclusion != "failure" || !strings.HasPrefix(cr.Output.Title, "Build failed") {
			t.Fatalf("conclusion %s, title %q", cr.Conclusion, cr.Output.Title)
		}
		if len(cr.Annotations) == 0 || cr.Annotations[0].Path != "main.go" || cr.Annotations[0].StartLine != 6 {
			t.Fatalf("annotations %+v; want main.go line 6", cr.Annotations)
		}
	})

	t.Run("one sticky comment per pull request, updated by the next push", func(t *testing.T) {
		w.t = t
		pr := wt.Load(t, "pull_request.opened").Repo(inst, repoID, owner, name).Set("number", 7).Set("pull_request.number", 7).
			Set("pull_request.head.ref", "feature").Set("pull_request.head.sha", commit("feat-1"))
		w.deliver("pull_request", pr)
		w.fake.SetPull(owner, name, 7, "feature", commit("feat-1"), "main")
		w.push("feature", commit("feat-1"), compileError)
		w.completed(commit("feat-1"), 1)
		cs := w.waitComments(7, func(cs []githubtest.Comment) bool { return len(cs) == 1 })
		if cs[0].Login != w.fake.BotLogin || !strings.Contains(cs[0].Body, github.Marker("idempotent-payments")) || !strings.Contains(cs[0].Body, "Build failed") {
			t.Fatalf("comment: %+v", cs[0])
		}
		w.push("feature", commit("feat-2"), reference)
		w.completed(commit("feat-2"), 1)
		cs = w.waitComments(7, func(cs []githubtest.Comment) bool { return len(cs) == 1 && strings.Contains(cs[0].Body, "Passed") })
		if n := w.calls("issues/create-comment"); n != 1 {
			t.Fatalf("%d comments created; want exactly one, then updates", n)
		}
	})

	t.Run("rerequested makes a new check run", func(t *testing.T) {
		w.t = t
		rr := wt.Load(t, "check_run.rerequested").Repo(inst, repoID, owner, name).
			Set("check_run.head_sha", commit("ref-1")).Set("check_run.check_suite.head_branch", "main")
		if out := w.deliver("check_run", rr); out["result"] != "queued" {
			t.Fatalf("rerequest: %v", out)
		}
		runs := w.completed(commit("ref-1"), 2)
		if runs[1].ID == runs[0].ID || runs[1].Conclusion != "success" {
			t.Fatalf("check runs on the commit: %+v", runs)
		}
	})

	t.Run("a newer push supersedes an older grading of the branch", func(t *testing.T) {
		w.t = t
		w.push("race", commit("race-1"), reference)
		w.push("race", commit("race-2"), reference)
		older, newer := w.completed(commit("race-1"), 1)[0], w.completed(commit("race-2"), 1)[0]
		if (older.Conclusion != "skipped" && older.Conclusion != "cancelled") || newer.Conclusion != "success" {
			t.Fatalf("older %s, newer %s; want skipped or cancelled, then success", older.Conclusion, newer.Conclusion)
		}
	})

	t.Run("GitHub's 5xx and rate limits are waited out", func(t *testing.T) {
		w.t = t
		reset := fmt.Sprint(time.Now().Add(time.Second).Unix())
		w.fake.FailNext("checks/create", 1, http.StatusForbidden, http.Header{"X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {reset}})
		w.fake.FailNext("checks/update", 1, http.StatusBadGateway, nil)
		w.fake.FailNext("repos/download-tarball-archive", 1, http.StatusTooManyRequests, http.Header{"Retry-After": {"1"}})
		w.push("main", commit("limits"), reference)
		if cr := w.completed(commit("limits"), 1)[0]; cr.Conclusion != "success" {
			t.Fatalf("conclusion %s", cr.Conclusion)
		}
	})

	t.Run("when retries run out the check run is neutral, never left in progress", func(t *testing.T) {
		w.t = t
		w.fastRetries("grade") // the real schedule (15 s, 1 min, 4 min) is tested in TestGradeRetries
		// No tarball for this commit: every attempt to fetch the source fails.
		out := w.deliver("push", wt.Load(t, "push.new-branch").Repo(inst, repoID, owner, name).Push("gone", commit("before"), commit("gone")))
		if out["result"] != "queued" {
			t.Fatalf("%v", out)
		}
		cr := w.completed(commit("gone"), 1)[0]
		if cr.Conclusion != "neutral" || cr.Output.Title != "Grader error" {
			t.Fatalf("conclusion %s, title %q; want neutral, Grader error", cr.Conclusion, cr.Output.Title)
		}
	})
}

func (w *world) waitComments(pr int, ok func([]githubtest.Comment) bool) []githubtest.Comment {
	w.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		cs := w.fake.Comments(owner, name, pr)
		if ok(cs) {
			return cs
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("comments on #%d: %+v", pr, cs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
