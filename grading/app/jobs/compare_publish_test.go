package jobs

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	gh "github.com/google/go-github/v66/github"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/app/github"
	"github.com/holdfast-ci/holdfast/grading/app/github/githubtest"
	"github.com/holdfast-ci/holdfast/grading/app/store"
	"github.com/holdfast-ci/holdfast/grading/compare"
	"github.com/holdfast-ci/holdfast/scenarios"
)

// Comparisons are published by the same publisher as runs. These tests write comparisons into
// the store as the webhook handler and the compare worker write them, without a grader.

// compare stores a comparison of pull request pr (base → head) as the webhook handler does,
// with its publication job unless publish is nil; publish makes the job of that kind.
func (p *publisher) compare(pr int, base, head string, publish func(id int64) river.JobArgs) int64 {
	p.t.Helper()
	ctx := context.Background()
	var id int64
	err := pgx.BeginFunc(ctx, p.st.Pool, func(tx pgx.Tx) error {
		var err error
		id, _, err = store.CreateComparison(ctx, tx, store.NewComparison{AssignmentID: p.a.ID, PR: pr, BaseSHA: sha(base),
			HeadSHA: sha(head), HeadRef: "tidy"})
		if err != nil || publish == nil {
			return err
		}
		_, err = p.rc.InsertTx(ctx, tx, publish(id), nil)
		return err
	})
	if err != nil {
		p.t.Fatal(err)
	}
	return id
}

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

func publishComparison(id int64) river.JobArgs { return PublishArgs{ComparisonID: id} }

// startComparison marks the base side started as the compare worker does, with the publication
// it queues.
func (p *publisher) startComparison(id int64) {
	p.t.Helper()
	ctx := context.Background()
	err := pgx.BeginFunc(ctx, p.st.Pool, func(tx pgx.Tx) error {
		if ok, err := store.StartComparisonTx(ctx, tx, id); err != nil || !ok {
			return fmt.Errorf("start comparison %d: %v %w", id, ok, err)
		}
		_, err := p.rc.InsertTx(ctx, tx, PublishArgs{ComparisonID: id}, nil)
		return err
	})
	if err != nil {
		p.t.Fatal(err)
	}
}

// judge stores both sides' verdicts and the result as the compare worker does, with or without
// the publication job.
func (p *publisher) judge(id int64, base, head grading.Verdict, queuePublish bool) {
	p.t.Helper()
	ctx := context.Background()
	err := pgx.BeginFunc(ctx, p.st.Pool, func(tx pgx.Tx) error {
		if err := store.SaveBase(ctx, tx, id, base, nil); err != nil {
			return err
		}
		if ok, err := store.CompleteComparison(ctx, tx, id, compare.Judge(base, head)); err != nil || !ok {
			return fmt.Errorf("complete comparison %d: %v %w", id, ok, err)
		}
		if !queuePublish {
			return nil
		}
		_, err := p.rc.InsertTx(ctx, tx, PublishArgs{ComparisonID: id}, nil)
		return err
	})
	if err != nil {
		p.t.Fatal(err)
	}
}

// comparisonPublished waits until comparison id is published as far as state.
func (p *publisher) comparisonPublished(id int64, state string, within time.Duration) store.Comparison {
	p.t.Helper()
	deadline := time.Now().Add(within)
	for {
		c, err := p.st.GetComparison(context.Background(), id)
		if err != nil {
			p.t.Fatal(err)
		}
		if store.PublishedRank(c.Published) >= store.PublishedRank(state) {
			return c
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("comparison %d published %q after %s; want %q. check runs: %+v", id, c.Published, within, state, p.fake.CheckRuns(pubOwner, pubName))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// completions counts the requests that completed a check run.
func (p *publisher) completions() int {
	n := 0
	for _, c := range p.fake.Calls() {
		if c.OperationID == "checks/update" && strings.Contains(string(c.Body), `"conclusion"`) {
			n++
		}
	}
	return n
}

var changed = grading.Verdict{Challenge: "idempotent-payments", Status: grading.Failed, Score: 0,
	Scenarios: []grading.ScenarioResult{{Slug: "basic_request_handling", Visibility: "public", Weight: 1, Outcome: grading.OutcomeFailed,
		Failure: &scenarios.Failure{Expected: "200", Actual: "500"}}}}

// TestComparisonPublishingIsItsOwnLifecycle: a comparison's check run goes queued → in_progress
// → completed on the head commit from stored state, the refactor comment that fails once is
// retried on its own, and the check run is completed exactly once. The first publication is the
// job an earlier version queued (report_compare_queued).
func TestComparisonPublishingIsItsOwnLifecycle(t *testing.T) {
	p := newPublisher(t, Options{})
	p.start()
	ctx := context.Background()
	id := p.compare(4, "base", "head", func(id int64) river.JobArgs { return ReportCompareQueuedArgs{ComparisonID: id} })
	p.comparisonPublished(id, store.PublishedQueued, 10*time.Second)
	p.startComparison(id)
	p.comparisonPublished(id, store.PublishedInProgress, 10*time.Second)
	p.fake.FailNext("issues/create-comment", 1, http.StatusUnprocessableEntity, nil)
	p.judge(id, passed, changed, true)
	c := p.comparisonPublished(id, store.PublishedCommented, 20*time.Second)

	crs := p.checkRuns("head")
	if len(crs) != 1 || len(p.fake.CheckRuns(pubOwner, pubName)) != 1 {
		t.Fatalf("check runs %+v; want one, on the head", p.fake.CheckRuns(pubOwner, pubName))
	}
	cr := crs[0]
	if got := strings.Join(cr.History, " "); got != "queued in_progress completed:failure" {
		t.Fatalf("history %q; want queued → in_progress → completed:failure", got)
	}
	if cr.ExternalID != fmt.Sprintf("comparison-%d", id) || cr.DetailsURL != "" || c.CheckRunID == nil || *c.CheckRunID != cr.ID {
		t.Fatalf("check run %+v of comparison %+v; want external_id comparison-%d, no details page, its id stored", cr, c, id)
	}
	if !strings.HasPrefix(cr.Output.Title, "Behaviour changed in 1 scenario") || !strings.Contains(cr.Output.Summary, "basic_request_handling") || len(cr.Actions) != 1 {
		t.Fatalf("title %q, actions %+v; want the behaviour change and a Re-run button\n%s", cr.Output.Title, cr.Actions, cr.Output.Summary)
	}
	if strings.Contains(cr.Output.Summary, cr.Output.Title) {
		t.Fatalf("the summary says the title %q again:\n%s", cr.Output.Title, cr.Output.Summary)
	}
	cs := p.fake.Comments(pubOwner, pubName, 4)
	if len(cs) != 1 || !strings.Contains(cs[0].Body, github.Marker(CommentKey("idempotent-payments"))) ||
		!strings.Contains(cs[0].Body, "refactor · base "+short(sha("base"))+" → head "+short(sha("head"))) || !strings.Contains(cs[0].Body, "Behaviour changed") {
		t.Fatalf("comments %+v; want the refactor comment", cs)
	}
	if n := p.calls("issues/create-comment"); n != 2 {
		t.Fatalf("%d comment creations; want the failed one and one retry", n)
	}
	if n := p.completions(); n != 1 {
		t.Fatalf("the check run was completed %d times; want once (the comment's retry must not publish again)", n)
	}

	// Publishing again changes nothing on GitHub, and the stored state never moves back.
	before := len(p.fake.Calls())
	if _, err := p.rc.Insert(ctx, PublishArgs{ComparisonID: id}, nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if after := p.fake.Calls(); len(after) != before {
		t.Fatalf("a second publication of a published comparison called GitHub: %+v", after[before:])
	}
	if err := p.st.SetPublished(ctx, store.SubjectComparison, id, store.PublishedQueued); err != nil {
		t.Fatal(err)
	}
	if c, _ := p.st.GetComparison(ctx, id); c.Published != store.PublishedCommented {
		t.Fatalf("published went back to %q", c.Published)
	}
}

// TestComparisonLostCreateAnswerMakesNoSecondCheckRun: GitHub made the comparison's check run
// but its answer never arrived; the next publisher finds it by its external_id, and takes
// neither a run's check run of the same number nor another comparison's on the same commit.
func TestComparisonLostCreateAnswerMakesNoSecondCheckRun(t *testing.T) {
	p := newPublisher(t, Options{})
	ctx := context.Background()
	id := p.compare(4, "base", "lost", nil)
	if err := p.st.MarkCheckRunRequested(ctx, store.SubjectComparison, id); err != nil {
		t.Fatal(err)
	}
	c := gh.NewClient(nil).WithAuthToken(p.fake.Token(pubInst))
	c.BaseURL, _ = c.BaseURL.Parse(p.fake.URL + "/")
	var made int64
	for _, external := range []string{fmt.Sprint(id), fmt.Sprintf("comparison-%d", id+1000), fmt.Sprintf("comparison-%d", id)} {
		cr, _, err := c.Checks.CreateCheckRun(ctx, pubOwner, pubName, gh.CreateCheckRunOptions{Name: github.CheckName, HeadSHA: sha("lost"),
			ExternalID: gh.String(external), Status: gh.String("queued")})
		if err != nil {
			t.Fatal(err)
		}
		made = cr.GetID() // the last: what GitHub kept of the request whose answer was lost
	}
	p.start()
	p.judge(id, passed, passed, true)
	got := p.comparisonPublished(id, store.PublishedCommented, 20*time.Second)
	if got.CheckRunID == nil || *got.CheckRunID != made {
		t.Fatalf("comparison's check run %d; want the one GitHub made, %d", deref(got.CheckRunID), made)
	}
	if n := p.calls("checks/create"); n != 3 {
		t.Fatalf("%d check runs created; want none besides the test's three", n)
	}
	if n := p.calls("checks/list-for-ref"); n != 1 {
		t.Fatalf("%d searches; want 1", n)
	}
	for _, cr := range p.checkRuns("lost") {
		if want := cr.ID == made; (cr.Status == "completed") != want {
			t.Fatalf("check run %d (%s) is %s; only %d may be completed", cr.ID, cr.ExternalID, cr.Status, made)
		}
	}
}

// TestReconcilerFinishesComparisons: a completed comparison whose publication job was lost, a
// superseded one whose job was lost, and one whose compare jobs are gone are driven to the end.
func TestReconcilerFinishesComparisons(t *testing.T) {
	p := newPublisher(t, Options{ReconcileIdle: time.Millisecond})
	ctx := context.Background()
	done := p.compare(4, "base", "done", nil)
	p.judge(done, passed, passed, false)
	old := p.compare(5, "base", "old", nil)
	p.compare(5, "base", "new", nil) // supersedes old
	orphan := p.compare(6, "base", "orphan", nil)
	if _, err := p.st.Pool.Exec(ctx, `UPDATE comparisons SET status='in_progress', started_at=now(), created_at = now() - interval '10 minutes' WHERE id = $1`, orphan); err != nil {
		t.Fatal(err)
	}
	p.start() // the reconciler runs when the client starts

	p.comparisonPublished(done, store.PublishedCommented, 30*time.Second)
	p.comparisonPublished(old, store.PublishedCompleted, 30*time.Second)
	p.comparisonPublished(orphan, store.PublishedCommented, 30*time.Second)
	if cr := p.checkRuns("done"); len(cr) != 1 || cr[0].Conclusion != "success" || cr[0].Output.Title != "No behaviour changed · 100/100" {
		t.Fatalf("done: %+v", cr)
	}
	if cs := p.fake.Comments(pubOwner, pubName, 4); len(cs) != 1 || !strings.Contains(cs[0].Body, "No behaviour changed") {
		t.Fatalf("comments on #4: %+v", cs)
	}
	if cr := p.checkRuns("old"); len(cr) != 1 || cr[0].Conclusion != "skipped" || cr[0].Output.Title != "Superseded" {
		t.Fatalf("superseded: %+v", cr)
	}
	if cr := p.checkRuns("orphan"); len(cr) != 1 || cr[0].Conclusion != "neutral" || cr[0].Output.Title != "Grader error" || len(cr[0].Actions) != 1 {
		t.Fatalf("orphan: %+v", cr)
	}
	if res, err := p.st.ComparisonResult(ctx, orphan); err != nil || res.Status != grading.GraderError {
		t.Fatalf("orphan's result %+v, %v", res, err)
	}
}

// TestComparisonPublishingWaitsOutGitHub: every request meets a secondary rate limit (403 with
// Retry-After) for a while; the publication waits it out without spending attempts, and the
// comparison ends with exactly one check run, completed, and one comment.
func TestComparisonPublishingWaitsOutGitHub(t *testing.T) {
	p := newPublisher(t, Options{})
	// The installation's token is fetched before the outage: a token request that meets the
	// rate limit fails with ghinstallation's error, which github.Wait does not read (yet).
	if _, _, err := p.deps.GitHub.Installation(pubInst).FindCheckRun(context.Background(), pubOwner, pubName, sha("head"), "warm-up"); err != nil {
		t.Fatal(err)
	}
	p.fake.SetOutage(&githubtest.Outage{Status: http.StatusForbidden, Header: http.Header{"Retry-After": {"1"}}})
	p.start()
	id := p.compare(4, "base", "head", publishComparison)
	p.startComparison(id)
	p.judge(id, passed, passed, true)
	time.Sleep(2500 * time.Millisecond)
	if n := len(p.fake.CheckRuns(pubOwner, pubName)); n != 0 {
		t.Fatalf("%d check runs during the outage", n)
	}
	p.fake.SetOutage(nil)
	p.comparisonPublished(id, store.PublishedCommented, 60*time.Second)
	limited := 0
	for _, c := range p.fake.Calls() {
		if c.Status == http.StatusForbidden {
			limited++
		}
	}
	if limited < 2 {
		t.Fatalf("%d requests met the rate limit: the test proves nothing", limited)
	}
	if crs := p.checkRuns("head"); len(crs) != 1 || crs[0].Conclusion != "success" {
		t.Fatalf("check runs %+v; want exactly one, success", crs)
	}
	if cs := p.fake.Comments(pubOwner, pubName, 4); len(cs) != 1 {
		t.Fatalf("comments %+v; want one", cs)
	}
	// Waiting is not failing: no publication spent an attempt on the rate limit.
	var failures int
	if err := p.st.Pool.QueryRow(context.Background(), `SELECT count(*) FROM river_job WHERE kind = 'publish'
		AND (attempt > 1 OR COALESCE(array_length(errors, 1), 0) > 0)`).Scan(&failures); err != nil {
		t.Fatal(err)
	}
	if failures != 0 {
		t.Fatalf("%d publications failed during the rate limit; want them snoozed until Retry-After", failures)
	}
}

// TestCompareRetriesAsGrading: a comparison's side is retried as a run's grading is: four
// attempts, after 15 s, 1 min and 4 min.
func TestCompareRetriesAsGrading(t *testing.T) {
	if got := (CompareArgs{}).InsertOpts().MaxAttempts; got != GradeAttempts {
		t.Fatalf("%d attempts; want %d", got, GradeAttempts)
	}
	w := &CompareWorker{}
	for attempt, want := range map[int]time.Duration{1: 15 * time.Second, 2: time.Minute, 3: 4 * time.Minute} {
		job := &river.Job[CompareArgs]{JobRow: &rivertype.JobRow{Attempt: attempt}}
		if got := time.Until(w.NextRetry(job)); got < want-time.Second || got > want {
			t.Errorf("retry after attempt %d: in %s; want %s", attempt, got.Round(time.Second), want)
		}
	}
}

// TestSupersededComparisonIsSkipped: a newer push to the pull request supersedes a comparison
// before its compare job ran, as the webhook handler stores it: the job grades nothing (there is
// no grader here), and the check run completes as skipped, published by the jobs queued.
func TestSupersededComparisonIsSkipped(t *testing.T) {
	p := newPublisher(t, Options{Graders: 1})
	ctx := context.Background()
	old := p.compare(4, "base", "old", publishComparison)
	if _, err := p.rc.Insert(ctx, CompareArgs{ComparisonID: old, Side: SideBase}, nil); err != nil {
		t.Fatal(err)
	}
	var superseded []int64
	err := pgx.BeginFunc(ctx, p.st.Pool, func(tx pgx.Tx) error {
		var err error
		_, superseded, err = store.CreateComparison(ctx, tx, store.NewComparison{AssignmentID: p.a.ID, PR: 4, BaseSHA: sha("base"), HeadSHA: sha("new"), HeadRef: "tidy"})
		if err != nil {
			return err
		}
		_, err = p.rc.InsertTx(ctx, tx, PublishArgs{ComparisonID: superseded[0]}, nil)
		return err
	})
	if err != nil || len(superseded) != 1 || superseded[0] != old {
		t.Fatalf("superseded %v, %v; want [%d]", superseded, err, old)
	}
	p.start()
	p.comparisonPublished(old, store.PublishedCompleted, 10*time.Second)
	crs := p.checkRuns("old")
	if len(crs) != 1 || strings.Join(crs[0].History, " ") != "queued completed:skipped" || crs[0].Output.Title != "Superseded" ||
		!strings.Contains(crs[0].Output.Summary, "pull request is being compared instead") {
		t.Fatalf("check runs %+v; want one, queued then skipped", crs)
	}
	// Its compare job ended at once, without an error and without grading.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var state string
		var failed bool
		if err := p.st.Pool.QueryRow(ctx, `SELECT state, COALESCE(array_length(errors, 1), 0) > 0 FROM river_job WHERE kind = 'compare'`).Scan(&state, &failed); err != nil {
			t.Fatal(err)
		}
		if failed {
			t.Fatalf("the superseded comparison's compare job failed (state %s)", state)
		}
		if state == "completed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("compare job %s after 10 s", state)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := p.calls("repos/download-tarball-archive"); n != 0 {
		t.Fatalf("%d downloads; want none", n)
	}
}
