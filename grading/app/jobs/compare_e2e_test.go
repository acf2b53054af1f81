package jobs_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/app/apptest"
	"github.com/holdfast-ci/holdfast/grading/app/github"
	"github.com/holdfast-ci/holdfast/grading/app/github/githubtest"
	"github.com/holdfast-ci/holdfast/grading/app/jobs"
	"github.com/holdfast-ci/holdfast/grading/app/store"
	wt "github.com/holdfast-ci/holdfast/grading/app/webhook/webhooktest"
	"github.com/holdfast-ci/holdfast/grading/docker/dockertest"
	"github.com/holdfast-ci/holdfast/grading/gradingtest"
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

// refactorChallenge is the refactor challenge as the store knows it: the App knows it by its
// formats.
var refactorChallenge = []grading.Challenge{{Slug: refactor.Slug, Title: "Refactor the order pricing service",
	Difficulty: "intermediate", Languages: []string{"go", "python"}, Formats: []string{"refactor"}}}

// refactorApp is the App with a runner grading on eng, the refactor challenge assigned in
// refactorRepo; lookup finds its scenarios.
func refactorApp(t *testing.T, eng grading.Engine, lookup func(string) (grading.Challenge, error)) (*apptest.App, store.Assignment) {
	t.Helper()
	a := apptest.New(t, apptest.Options{Engine: eng, Challenges: refactorChallenge, Lookup: lookup})
	return a, a.Assign(t, refactorRepo, refactorRepoID, refactor.Slug, "bob")
}

// TestRefactorPullRequestComparesBaseAndHead is the refactor flow end to end: GitHub's real
// pull_request payloads, River, real gradings of both commits in Docker, and the comparison as
// the check run on the head and the pull request's sticky comment.
func TestRefactorPullRequestComparesBaseAndHead(t *testing.T) {
	eng := dockertest.Engine(t)
	ch := scenariotest.Challenge(t, refactor.Slug, refactor.Scenarios())
	w, _ := refactorApp(t, eng, func(slug string) (grading.Challenge, error) {
		if slug != refactor.Slug {
			return grading.Challenge{}, fmt.Errorf("unknown challenge %q", slug)
		}
		return ch, nil
	})
	base, tidy, rounded := commit("pricing-base"), commit("pricing-tidy"), commit("pricing-round")
	w.GitHub.SetTarball(owner, refactorRepo, base, pricingStarter)
	w.GitHub.SetTarball(owner, refactorRepo, tidy, pricingFaithful)
	w.GitHub.SetTarball(owner, refactorRepo, rounded, pricingRounding)
	const pr = 3
	marker := github.Marker(jobs.CommentKey(refactor.Slug))

	t.Run("a push alone grades nothing", func(t *testing.T) {
		out := w.Deliver(t, "push", wt.Load(t, "push.new-branch").Repo(inst, refactorRepoID, owner, refactorRepo).Push("tidy", base, tidy))
		if !strings.Contains(fmt.Sprint(out["result"]), "is a refactor") {
			t.Fatalf("push: %v; want it acknowledged as a refactor's", out)
		}
	})

	t.Run("a faithful refactor changes no behaviour", func(t *testing.T) {
		w.GitHub.SetPull(owner, refactorRepo, pr, "tidy", tidy, "main")
		opened := wt.Load(t, "pull_request.opened").Repo(inst, refactorRepoID, owner, refactorRepo).Set("number", pr).
			Set("pull_request.number", pr).Set("pull_request.head.ref", "tidy").Set("pull_request.head.sha", tidy).
			Set("pull_request.base.ref", "main").Set("pull_request.base.sha", base)
		if out := w.Deliver(t, "pull_request", opened); out["result"] != "queued" {
			t.Fatalf("pull_request opened: %v", out)
		}
		cr := w.Completed(t, refactorRepo, tidy, 1)[0]
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
		if len(w.GitHub.CheckRuns(owner, refactorRepo)) != 1 {
			t.Fatalf("check runs %+v; want only the comparison's (the push graded nothing)", w.GitHub.CheckRuns(owner, refactorRepo))
		}
		cs := w.Comments(t, refactorRepo, pr, func(cs []githubtest.Comment) bool { return len(cs) == 1 })
		if !strings.Contains(cs[0].Body, marker) || !strings.Contains(cs[0].Body, "No behaviour changed") {
			t.Fatalf("comment: %s", cs[0].Body)
		}
	})

	t.Run("a refactor that changes rounding fails, per scenario", func(t *testing.T) {
		w.GitHub.SetPull(owner, refactorRepo, pr, "tidy", rounded, "main")
		sync := wt.Load(t, "pull_request.synchronize").Repo(inst, refactorRepoID, owner, refactorRepo).Set("number", pr).
			Set("before", tidy).Set("after", rounded).
			Set("pull_request.number", pr).Set("pull_request.head.ref", "tidy").Set("pull_request.head.sha", rounded).
			Set("pull_request.base.ref", "main").Set("pull_request.base.sha", base)
		if out := w.Deliver(t, "pull_request", sync); out["result"] != "queued" {
			t.Fatalf("pull_request synchronize: %v", out)
		}
		cr := w.Completed(t, refactorRepo, rounded, 1)[0]
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
		w.Comments(t, refactorRepo, pr, func(cs []githubtest.Comment) bool {
			return len(cs) == 1 && strings.Contains(cs[0].Body, "Behaviour changed in 3 scenarios")
		})
		if n := w.Calls("issues/create-comment"); n != 1 {
			t.Fatalf("%d comments created; want one, then updates", n)
		}
		if n := w.Downloads(base); n != 1 {
			t.Fatalf("the base was downloaded %d times; want once, its grading reused by the second comparison", n)
		}
	})

	t.Run("re-running the check run compares again", func(t *testing.T) {
		rr := wt.Load(t, "check_run.rerequested").Repo(inst, refactorRepoID, owner, refactorRepo).
			Set("check_run.head_sha", rounded).Set("check_run.check_suite.head_branch", "tidy")
		if out := w.Deliver(t, "check_run", rr); out["result"] != "queued" {
			t.Fatalf("rerequest: %v", out)
		}
		runs := w.Completed(t, refactorRepo, rounded, 2)
		if runs[1].ID == runs[0].ID || runs[1].Conclusion != "failure" {
			t.Fatalf("check runs on the head: %+v", runs)
		}
	})
}

// TestRefactorComparisonNeverStaysInProgress: a comparison whose head cannot be fetched ends
// neutral after its attempts. The scripted engine grades the base (no Docker).
func TestRefactorComparisonNeverStaysInProgress(t *testing.T) {
	w, _ := refactorApp(t, &gradingtest.Engine{}, gradingtest.Lookup)
	starter, _, _ := scripted(t)
	base, gone := commit("pricing-base"), commit("pricing-gone")
	w.GitHub.SetTarball(owner, refactorRepo, base, starter)
	// No tarball for the head: every attempt to fetch it fails, and the last one reports.
	w.GitHub.SetPull(owner, refactorRepo, 5, "lost", gone, "main")
	opened := wt.Load(t, "pull_request.opened").Repo(inst, refactorRepoID, owner, refactorRepo).Set("number", 5).
		Set("pull_request.number", 5).Set("pull_request.head.ref", "lost").Set("pull_request.head.sha", gone).
		Set("pull_request.base.ref", "main").Set("pull_request.base.sha", base)
	// River's clock runs fast for the head's retries: CompareWorker.NextRetry's 15 s, 1 min and
	// 4 min (TestCompareRetriesAsGrading) would keep this test waiting more than five minutes.
	w.FastRetries(t, "compare")
	if out := w.Deliver(t, "pull_request", opened); out["result"] != "queued" {
		t.Fatalf("pull_request opened: %v", out)
	}
	cr := w.Completed(t, refactorRepo, gone, 1)[0]
	if cr.Conclusion != "neutral" || cr.Output.Title != "Grader error" || len(cr.Actions) != 1 {
		t.Fatalf("conclusion %s, title %q, actions %+v; want neutral, Grader error, with Re-run", cr.Conclusion, cr.Output.Title, cr.Actions)
	}
	if h := strings.Join(cr.History, " "); h != "queued in_progress completed:neutral" {
		t.Fatalf("history %q; want queued → in_progress → completed:neutral", h)
	}
	var attempts int
	if err := w.Store.Pool.QueryRow(context.Background(), `SELECT attempt FROM river_job WHERE kind = 'compare' AND args->>'side' = 'head'`).Scan(&attempts); err != nil || attempts != jobs.GradeAttempts {
		t.Fatalf("the head was tried %d times (%v); want %d", attempts, err, jobs.GradeAttempts)
	}
	w.Comments(t, refactorRepo, 5, func(cs []githubtest.Comment) bool {
		return len(cs) == 1 && strings.Contains(cs[0].Body, "Grader error")
	})
}
