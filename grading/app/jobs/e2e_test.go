package jobs_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/app/apptest"
	"github.com/holdfast-ci/holdfast/grading/app/github"
	"github.com/holdfast-ci/holdfast/grading/app/github/githubtest"
	"github.com/holdfast-ci/holdfast/grading/app/store"
	wt "github.com/holdfast-ci/holdfast/grading/app/webhook/webhooktest"
	"github.com/holdfast-ci/holdfast/grading/docker/dockertest"
	"github.com/holdfast-ci/holdfast/grading/gradingtest"
	"github.com/holdfast-ci/holdfast/scenarios/catalog"
)

const (
	inst   = apptest.Installation
	owner  = apptest.Owner
	repoID = 5001
	name   = "pay-alice"

	reference    = "../../../scenarios/idempotentpayments/testdata/reference"
	compileError = "../../cli/testdata/compile-error"
)

func commit(label string) string { return apptest.Commit(label) }

// dockerApp is the App with a runner grading in Docker, the payments challenge assigned in name.
func dockerApp(t *testing.T) (*apptest.App, store.Assignment) {
	t.Helper()
	a := apptest.New(t, apptest.Options{Engine: dockertest.Engine(t), Challenges: catalog.MustNew(catalog.Builtin()).Challenges(), Lookup: catalog.MustNew(catalog.Builtin()).Lookup})
	return a, a.Assign(t, name, repoID, "idempotent-payments", "alice")
}

// scriptedApp is the App with a runner grading on the scripted engine (no Docker): pushes of
// the submissions below pass, fail to build, or pass after a 2 s build.
func scriptedApp(t *testing.T) (*apptest.App, store.Assignment) {
	t.Helper()
	a := apptest.New(t, apptest.Options{Engine: &gradingtest.Engine{},
		Challenges: []grading.Challenge{{Slug: "idempotent-payments", Title: "Payments"}}, Lookup: gradingtest.Lookup})
	return a, a.Assign(t, name, repoID, "idempotent-payments", "alice")
}

// scripted writes the scripted submissions: a passing one, one whose build fails with a compiler
// error on main.go:6, and a passing one whose build takes 2 s.
func scripted(t *testing.T) (pass, broken, slow string) {
	t.Helper()
	dir := t.TempDir()
	for _, s := range []struct {
		path   *string
		name   string
		script gradingtest.Script
	}{
		{&pass, "pass", gradingtest.Script{}},
		{&broken, "broken", gradingtest.Script{BuildFailed: "The command '/bin/sh -c go build' returned a non-zero code: 1", BuildLog: "./main.go:6:10: undefined: undefined"}},
		{&slow, "slow", gradingtest.Script{BuildDelay: gradingtest.Duration(2 * time.Second)}},
	} {
		p, err := gradingtest.WriteSubmission(dir, s.name, s.script)
		if err != nil {
			t.Fatal(err)
		}
		*s.path = p
	}
	return pass, broken, slow
}

// TestPushToCheckRun is the App end to end with real gradings: real webhook payloads in, River,
// a grading in Docker, and every request to GitHub checked against its OpenAPI description by
// the fake. TestPushLifecycle is the rest of a push's life, graded by the scripted engine.
func TestPushToCheckRun(t *testing.T) {
	a, as := dockerApp(t)

	t.Run("reference passes", func(t *testing.T) {
		a.Push(t, as, "main", commit("before"), commit("ref-1"), reference)
		cr := a.Completed(t, name, commit("ref-1"), 1)[0]
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
		a.Push(t, as, "main", commit("before"), commit("broken-1"), compileError)
		cr := a.Completed(t, name, commit("broken-1"), 1)[0]
		if cr.Conclusion != "failure" || !strings.HasPrefix(cr.Output.Title, "Build failed") {
			t.Fatalf("conclusion %s, title %q", cr.Conclusion, cr.Output.Title)
		}
		if len(cr.Annotations) == 0 || cr.Annotations[0].Path != "main.go" || cr.Annotations[0].StartLine != 6 {
			t.Fatalf("annotations %+v; want main.go line 6", cr.Annotations)
		}
	})
}

// TestPushLifecycle is what the App does around gradings, end to end as TestPushToCheckRun but
// graded by the scripted engine, without Docker: sticky comments, re-runs, superseded pushes,
// GitHub's failures and rate limits, and retries that run out.
func TestPushLifecycle(t *testing.T) {
	a, as := scriptedApp(t)
	pass, broken, slow := scripted(t)

	t.Run("one sticky comment per pull request, updated by the next push", func(t *testing.T) {
		pr := wt.Load(t, "pull_request.opened").Repo(inst, repoID, owner, name).Set("number", 7).Set("pull_request.number", 7).
			Set("pull_request.head.ref", "feature").Set("pull_request.head.sha", commit("feat-1"))
		a.Deliver(t, "pull_request", pr)
		a.GitHub.SetPull(owner, name, 7, "feature", commit("feat-1"), "main")
		a.Push(t, as, "feature", commit("before"), commit("feat-1"), broken)
		a.Completed(t, name, commit("feat-1"), 1)
		cs := a.Comments(t, name, 7, func(cs []githubtest.Comment) bool { return len(cs) == 1 })
		if cs[0].Login != a.GitHub.BotLogin || !strings.Contains(cs[0].Body, github.Marker("idempotent-payments")) || !strings.Contains(cs[0].Body, "Build failed") {
			t.Fatalf("comment: %+v", cs[0])
		}
		a.Push(t, as, "feature", commit("before"), commit("feat-2"), pass)
		a.Completed(t, name, commit("feat-2"), 1)
		cs = a.Comments(t, name, 7, func(cs []githubtest.Comment) bool { return len(cs) == 1 && strings.Contains(cs[0].Body, "Passed") })
		if n := a.Calls("issues/create-comment"); n != 1 {
			t.Fatalf("%d comments created; want exactly one, then updates", n)
		}
	})

	t.Run("rerequested makes a new check run", func(t *testing.T) {
		a.Push(t, as, "main", commit("before"), commit("ref-1"), pass)
		if cr := a.Completed(t, name, commit("ref-1"), 1)[0]; cr.Conclusion != "success" {
			t.Fatalf("the push before the re-run: conclusion %s; want success", cr.Conclusion)
		}
		rr := wt.Load(t, "check_run.rerequested").Repo(inst, repoID, owner, name).
			Set("check_run.head_sha", commit("ref-1")).Set("check_run.check_suite.head_branch", "main")
		if out := a.Deliver(t, "check_run", rr); out["result"] != "queued" {
			t.Fatalf("rerequest: %v", out)
		}
		runs := a.Completed(t, name, commit("ref-1"), 2)
		if runs[1].ID == runs[0].ID || runs[1].Conclusion != "success" {
			t.Fatalf("check runs on the commit: %+v", runs)
		}
	})

	t.Run("a newer push supersedes an older grading of the branch", func(t *testing.T) {
		a.Push(t, as, "race", commit("before"), commit("race-1"), slow)
		a.Push(t, as, "race", commit("before"), commit("race-2"), slow)
		older, newer := a.Completed(t, name, commit("race-1"), 1)[0], a.Completed(t, name, commit("race-2"), 1)[0]
		if (older.Conclusion != "skipped" && older.Conclusion != "cancelled") || newer.Conclusion != "success" {
			t.Fatalf("older %s, newer %s; want skipped or cancelled, then success", older.Conclusion, newer.Conclusion)
		}
	})

	t.Run("GitHub's 5xx and rate limits are waited out", func(t *testing.T) {
		reset := fmt.Sprint(time.Now().Add(time.Second).Unix())
		a.GitHub.FailNext("checks/create", 1, http.StatusForbidden, http.Header{"X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {reset}})
		a.GitHub.FailNext("checks/update", 1, http.StatusBadGateway, nil)
		a.GitHub.FailNext("repos/download-tarball-archive", 1, http.StatusTooManyRequests, http.Header{"Retry-After": {"1"}})
		a.Push(t, as, "main", commit("before"), commit("limits"), pass)
		if cr := a.Completed(t, name, commit("limits"), 1)[0]; cr.Conclusion != "success" {
			t.Fatalf("conclusion %s", cr.Conclusion)
		}
	})

	t.Run("when retries run out the check run is neutral, never left in progress", func(t *testing.T) {
		a.FastRetries(t, "grade") // the real schedule (15 s, 1 min, 4 min) is tested in TestGradeRetries
		// No tarball for this commit: every attempt to fetch the source fails.
		out := a.Deliver(t, "push", wt.Load(t, "push.new-branch").Repo(inst, repoID, owner, name).Push("gone", commit("before"), commit("gone")))
		if out["result"] != "queued" {
			t.Fatalf("%v", out)
		}
		cr := a.Completed(t, name, commit("gone"), 1)[0]
		if cr.Conclusion != "neutral" || cr.Output.Title != "Grader error" {
			t.Fatalf("conclusion %s, title %q; want neutral, Grader error", cr.Conclusion, cr.Output.Title)
		}
	})
}
