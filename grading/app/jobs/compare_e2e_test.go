package jobs_test

import (
	"context"
	"fmt"
	"log/slog"
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
	refactor "github.com/holdfast-ci/holdfast/scenarios/refactororderpricing"
	"github.com/holdfast-ci/holdfast/scenarios/scenariotest"
)

const (
	refactorRepoID = 5002
	refactorRepo   = "pricing-bob"

	pricingStarter  = "../../../templates/refactor-order-pricing/starter/go"
	pricingFaithful = "../../../scenarios/refactororderpricing/testdata/faithful-go"
	pricingRounding = "../../../scenarios/refactororderpricing/testdata/changed-rounding"
)

// newRefactorWorld is newWorld for a refactor challenge: the challenge is looked up directly
// rather than through the catalog, and the App knows it by its formats.
func newRefactorWorld(t *testing.T) *world {
	t.Helper()
	st, _ := storetest.New(t)
	eng := dockertest.Engine(t)
	ctx := context.Background()
	fake := githubtest.New(t)
	fake.AddInstallation(inst, owner)
	fake.AddRepo(inst, owner, refactorRepo, &githubtest.RepoOpts{ID: refactorRepoID})
	if err := st.SyncChallenges(ctx, []store.Challenge{{Slug: refactor.Slug, Title: "Refactor the order pricing service",
		Difficulty: "intermediate", Languages: []string{"go", "python"}, Formats: []string{"refactor"}}}); err != nil {
		t.Fatal(err)
	}
	a, err := st.CreateAssignment(ctx, store.Assignment{InstallationID: inst, RepoID: refactorRepoID, Owner: owner, Name: refactorRepo,
		Challenge: refactor.Slug, User: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	ch := scenariotest.Challenge(t, refactor.Slug, refactor.Scenarios())
	lookup := func(slug string) (grading.Challenge, error) {
		if slug != refactor.Slug {
			return grading.Challenge{}, fmt.Errorf("unknown challenge %q", slug)
		}
		return ch, nil
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	app, err := github.NewApp(github.Config{AppID: fake.AppID, PrivateKey: fake.PrivateKeyPEM, BaseURL: fake.URL, MaxWait: 5 * time.Second}, log)
	if err != nil {
		t.Fatal(err)
	}
	deps := jobs.Deps{Store: st, GitHub: app, Grader: &grading.Grader{Engine: eng, HardCap: 240 * time.Second, Log: log},
		Challenge: lookup, PublicURL: "http://holdfast.test", Log: log}
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

// completedOn waits until n check runs on sha of the refactor repository have completed.
func (w *world) completedOn(repo, sha string, n int) []githubtest.CheckRun {
	w.t.Helper()
	deadline := time.Now().Add(6 * time.Minute)
	for {
		var done []githubtest.CheckRun
		for _, cr := range w.fake.CheckRuns(owner, repo) {
			if cr.HeadSHA == sha && cr.Status == "completed" {
				done = append(done, cr)
			}
		}
		if len(done) >= n {
			return done
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("%d of %d check runs on %s completed after 6 minutes: %+v", len(done), n, sha[:7], w.fake.CheckRuns(owner, repo))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestRefactorPullRequestComparesBaseAndHead is the refactor flow end to end: GitHub's real
// pull_request payloads, River, real gradings of both commits in Docker, and the comparison as
// the check run on the head and the pull request's sticky comment.
func TestRefactorPullRequestComparesBaseAndHead(t *testing.T) {
	w := newRefactorWorld(t)
	base, tidy, rounded := commit("pricing-base"), commit("pricing-tidy"), commit("pricing-round")
	w.fake.SetTarball(owner, refactorRepo, base, pricingStarter)
	w.fake.SetTarball(owner, refactorRepo, tidy, pricingFaithful)
	w.fake.SetTarball(owner, refactorRepo, rounded, pricingRounding)
	const pr = 3
	marker := github.Marker(jobs.CommentKey(refactor.Slug))

	t.Run("a push alone grades nothing", func(t *testing.T) {
		w.t = t
		out := w.deliver("push", wt.Load(t, "push.new-branch").Repo(inst, refactorRepoID, owner, refactorRepo).Push("tidy", base, tidy))
		if !strings.Contains(fmt.Sprint(out["result"]), "is a refactor") {
			t.Fatalf("push: %v; want it acknowledged as a refactor's", out)
		}
	})

	t.Run("a faithful refactor changes no behaviour", func(t *testing.T) {
		w.t = t
		w.fake.SetPull(owner, refactorRepo, pr, "tidy", tidy, "main")
		opened := wt.Load(t, "pull_request.opened").Repo(inst, refactorRepoID, owner, refactorRepo).Set("number", pr).
			Set("pull_request.number", pr).Set("pull_request.head.ref", "tidy").Set("pull_request.head.sha", tidy).
			Set("pull_request.base.ref", "main").Set("pull_request.base.sha", base)
		if out := w.deliver("pull_request", opened); out["result"] != "queued" {
			t.Fatalf("pull_request opened: %v", out)
		}
		cr := w.completedOn(refactorRepo, tidy, 1)[0]
		if cr.Conclusion != "success" || cr.Output.Title != "No behaviour changed · 100/100" {
			t.Fatalf("conclusion %s, title %q; want success, No behaviour changed · 100/100\n%s", cr.Conclusion, cr.Output.Title, cr.Output.Summary)
		}
		if strings.Join(cr.History, " ") != "queued in_progress completed:success" {
			t.Fatalf("history %v; want queued → in_progress → completed", cr.History)
		}
		if !strings.HasPrefix(cr.ExternalID, "comparison-") || cr.DetailsURL != "" || len(cr.Actions) != 1 {
			t.Fatalf("external_id %q, details %q, actions %+v; want comparison-<id>, no details page, Re-run", cr.ExternalID, cr.DetailsURL, cr.Actions)
		}
		for _, want := range []string{"`line_pricing`", "Code quality (information, not part of the score)", "`quote`", "hidden scenario (details withheld)"} {
			if !strings.Contains(cr.Output.Summary, want) {
				t.Errorf("summary lacks %q:\n%s", want, cr.Output.Summary)
			}
		}
		if len(w.fake.CheckRuns(owner, refactorRepo)) != 1 {
			t.Fatalf("check runs %+v; want only the comparison's (the push graded nothing)", w.fake.CheckRuns(owner, refactorRepo))
		}
		cs := w.waitCommentsOn(refactorRepo, pr, func(cs []githubtest.Comment) bool { return len(cs) == 1 })
		if !strings.Contains(cs[0].Body, marker) || !strings.Contains(cs[0].Body, "No behaviour changed") {
			t.Fatalf("comment: %s", cs[0].Body)
		}
	})

	t.Run("a refactor that changes rounding fails, per scenario", func(t *testing.T) {
		w.t = t
		w.fake.SetPull(owner, refactorRepo, pr, "tidy", rounded, "main")
		sync := wt.Load(t, "pull_request.synchronize").Repo(inst, refactorRepoID, owner, refactorRepo).Set("number", pr).
			Set("before", tidy).Set("after", rounded).
			Set("pull_request.number", pr).Set("pull_request.head.ref", "tidy").Set("pull_request.head.sha", rounded).
			Set("pull_request.base.ref", "main").Set("pull_request.base.sha", base)
		if out := w.deliver("pull_request", sync); out["result"] != "queued" {
			t.Fatalf("pull_request synchronize: %v", out)
		}
		cr := w.completedOn(refactorRepo, rounded, 1)[0]
		if cr.Conclusion != "failure" || !strings.HasPrefix(cr.Output.Title, "Behaviour changed in 3 scenarios") {
			t.Fatalf("conclusion %s, title %q; want failure, behaviour changed in rounding, coupons and boundary_carts\n%s", cr.Conclusion, cr.Output.Title, cr.Output.Summary)
		}
		for _, want := range []string{"<code>rounding</code>: behaviour changed", "**before:** passed", "**after:** failed", "expected 200 with the quote", "discount is 277, the brief gives 276"} {
			if !strings.Contains(cr.Output.Summary, want) {
				t.Errorf("summary lacks %q:\n%s", want, cr.Output.Summary)
			}
		}
		if strings.Contains(cr.Output.Summary, "seeded_carts") {
			t.Errorf("the summary names the hidden scenario:\n%s", cr.Output.Summary)
		}
		w.waitCommentsOn(refactorRepo, pr, func(cs []githubtest.Comment) bool {
			return len(cs) == 1 && strings.Contains(cs[0].Body, "Behaviour changed in 3 scenarios")
		})
		if n := w.calls("issues/create-comment"); n != 1 {
			t.Fatalf("%d comments created; want one, then updates", n)
		}
		if n := w.downloads(base); n != 1 {
			t.Fatalf("the base was downloaded %d times; want once, its grading reused by the second comparison", n)
		}
	})

	t.Run("re-running the check run compares again", func(t *testing.T) {
		w.t = t
		rr := wt.Load(t, "check_run.rerequested").Repo(inst, refactorRepoID, owner, refactorRepo).
			Set("check_run.head_sha", rounded).Set("check_run.check_suite.head_branch", "tidy")
		if out := w.deliver("check_run", rr); out["result"] != "queued" {
			t.Fatalf("rerequest: %v", out)
		}
		runs := w.completedOn(refactorRepo, rounded, 2)
		if runs[1].ID == runs[0].ID || runs[1].Conclusion != "failure" {
			t.Fatalf("check runs on the head: %+v", runs)
		}
	})
}

func TestRefactorComparisonNeverStaysInProgress(t *testing.T) {
	w := newRefactorWorld(t)
	base, gone := commit("pricing-base"), commit("pricing-gone")
	w.fake.SetTarball(owner, refactorRepo, base, pricingStarter)
	// No tarball for the head: every attempt to fetch it fails, and the last one reports.
	w.fake.SetPull(owner, refactorRepo, 5, "lost", gone, "main")
	opened := wt.Load(t, "pull_request.opened").Repo(inst, refactorRepoID, owner, refactorRepo).Set("number", 5).
		Set("pull_request.number", 5).Set("pull_request.head.ref", "lost").Set("pull_request.head.sha", gone).
		Set("pull_request.base.ref", "main").Set("pull_request.base.sha", base)
	// River's clock runs fast for the head's retries: CompareWorker.NextRetry's 15 s, 1 min and
	// 4 min (TestCompareRetriesAsGrading) would keep this test waiting more than five minutes.
	w.fastRetries("compare")
	if out := w.deliver("pull_request", opened); out["result"] != "queued" {
		t.Fatalf("pull_request opened: %v", out)
	}
	cr := w.completedOn(refactorRepo, gone, 1)[0]
	if cr.Conclusion != "neutral" || cr.Output.Title != "Grader error" || len(cr.Actions) != 1 {
		t.Fatalf("conclusion %s, title %q, actions %+v; want neutral, Grader error, with Re-run", cr.Conclusion, cr.Output.Title, cr.Actions)
	}
	if h := strings.Join(cr.History, " "); h != "queued in_progress completed:neutral" {
		t.Fatalf("history %q; want queued → in_progress → completed:neutral", h)
	}
	var attempts int
	if err := w.st.Pool.QueryRow(context.Background(), `SELECT attempt FROM river_job WHERE kind = 'compare' AND args->>'side' = 'head'`).Scan(&attempts); err != nil || attempts != jobs.GradeAttempts {
		t.Fatalf("the head was tried %d times (%v); want %d", attempts, err, jobs.GradeAttempts)
	}
	w.waitCommentsOn(refactorRepo, 5, func(cs []githubtest.Comment) bool {
		return len(cs) == 1 && strings.Contains(cs[0].Body, "Grader error")
	})
}

// fastRetries makes failed jobs of kind due at once until the test ends, as if their backoff had
// passed: River's scheduler then hands them to a worker within seconds.
func (w *world) fastRetries(kind string) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	w.t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(500 * time.Millisecond):
			}
			_, _ = w.st.Pool.Exec(ctx, `UPDATE river_job SET scheduled_at = now() WHERE kind = $1 AND state = 'retryable' AND scheduled_at > now()`, kind)
		}
	}()
}

func (w *world) waitCommentsOn(repo string, pr int, ok func([]githubtest.Comment) bool) []githubtest.Comment {
	w.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		cs := w.fake.Comments(owner, repo, pr)
		if ok(cs) {
			return cs
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("comments on #%d: %+v", pr, cs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// downloads counts the tarball links asked for sha.
func (w *world) downloads(sha string) int {
	n := 0
	for _, c := range w.fake.Calls() {
		if c.OperationID == "repos/download-tarball-archive" && c.Status < 400 && strings.Contains(c.Path, sha) {
			n++
		}
	}
	return n
}
