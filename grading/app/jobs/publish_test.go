package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	gh "github.com/google/go-github/v66/github"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/app/github"
	"github.com/holdfast-ci/holdfast/grading/app/github/githubtest"
	"github.com/holdfast-ci/holdfast/grading/app/store"
	"github.com/holdfast-ci/holdfast/grading/app/store/storetest"
)

// publisher is the App's side of publishing, without a grader: the store, the fake GitHub and a
// River client working the GitHub queue. Runs are written into the store as the webhook handler
// and the grade worker write them.
type publisher struct {
	t    *testing.T
	st   *store.Store
	fake *githubtest.Server
	deps Deps
	rc   *river.Client[pgx.Tx]
	a    store.Assignment
	n    int
}

const (
	pubInst  = 11
	pubRepo  = 1101
	pubOwner = "classroom"
	pubName  = "pay-bob"
)

func newPublisher(t *testing.T, opts Options) *publisher {
	t.Helper()
	st, _ := storetest.New(t)
	ctx := context.Background()
	fake := githubtest.New(t)
	fake.AddInstallation(pubInst, pubOwner)
	fake.AddRepo(pubInst, pubOwner, pubName, &githubtest.RepoOpts{ID: pubRepo})
	if err := st.SyncChallenges(ctx, []grading.Challenge{{Slug: "idempotent-payments", Title: "Payments"}}); err != nil {
		t.Fatal(err)
	}
	a, err := st.CreateAssignment(ctx, store.Assignment{InstallationID: pubInst, RepoID: pubRepo, Owner: pubOwner, Name: pubName,
		Challenge: "idempotent-payments", User: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	app, err := github.NewApp(github.Config{AppID: fake.AppID, PrivateKey: fake.PrivateKeyPEM, BaseURL: fake.URL, MaxAttempts: 1}, log)
	if err != nil {
		t.Fatal(err)
	}
	deps := Deps{Store: st, GitHub: app, PublicURL: "http://holdfast.test", Log: log}
	if opts.Reporters == 0 {
		opts.Reporters = 4
	}
	if opts.RecoverDeliveries == 0 {
		opts.RecoverDeliveries = -1
	}
	if opts.Reconcile == 0 {
		opts.Reconcile = time.Hour // only the run on start
	}
	rc, err := NewClient(deps, opts)
	if err != nil {
		t.Fatal(err)
	}
	p := &publisher{t: t, st: st, fake: fake, deps: deps, rc: rc, a: a}
	return p
}

func (p *publisher) start() {
	p.t.Helper()
	if err := p.rc.Start(context.Background()); err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = p.rc.StopAndCancel(ctx)
	})
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

func sha(label string) string { return (fmt.Sprintf("%x", label) + strings.Repeat("0", 40))[:40] }

// push stores a run of a new commit on branch as the webhook handler does, with or without its
// publication job.
func (p *publisher) push(branch, label string, queuePublish bool) int64 {
	p.t.Helper()
	p.n++
	var id int64
	err := pgx.BeginFunc(context.Background(), p.st.Pool, func(tx pgx.Tx) error {
		var err error
		id, _, err = store.CreateRun(context.Background(), tx, store.Submission{AssignmentID: p.a.ID, SHA: sha(label),
			Ref: "refs/heads/" + branch, Branch: branch, Pusher: "bob", DeliveryID: fmt.Sprintf("d-%d", p.n)})
		if err != nil || !queuePublish {
			return err
		}
		_, err = p.rc.InsertTx(context.Background(), tx, PublishArgs{RunID: id}, nil)
		return err
	})
	if err != nil {
		p.t.Fatal(err)
	}
	return id
}

// grade stores a verdict for run as the grade worker does (started, then completed), with or
// without its publication job.
func (p *publisher) grade(id int64, v grading.Verdict, queuePublish bool) {
	p.t.Helper()
	ctx := context.Background()
	err := pgx.BeginFunc(ctx, p.st.Pool, func(tx pgx.Tx) error {
		if _, err := store.StartRunTx(ctx, tx, id); err != nil {
			return err
		}
		if _, err := store.CompleteRun(ctx, tx, id, v); err != nil {
			return err
		}
		if !queuePublish {
			return nil
		}
		_, err := p.rc.InsertTx(ctx, tx, PublishArgs{RunID: id}, nil)
		return err
	})
	if err != nil {
		p.t.Fatal(err)
	}
}

// published waits until run id is published as far as state.
func (p *publisher) published(id int64, state string, within time.Duration) store.Run {
	p.t.Helper()
	deadline := time.Now().Add(within)
	for {
		run, err := p.st.GetRun(context.Background(), id)
		if err != nil {
			p.t.Fatal(err)
		}
		if store.PublishedRank(run.Published) >= store.PublishedRank(state) {
			return run
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("run %d published %q after %s; want %q. check runs: %+v", id, run.Published, within, state, p.fake.CheckRuns(pubOwner, pubName))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *publisher) checkRuns(label string) []githubtest.CheckRun {
	var out []githubtest.CheckRun
	for _, cr := range p.fake.CheckRuns(pubOwner, pubName) {
		if cr.HeadSHA == sha(label) {
			out = append(out, cr)
		}
	}
	return out
}

func (p *publisher) calls(op string) int {
	n := 0
	for _, c := range p.fake.Calls() {
		if c.OperationID == op {
			n++
		}
	}
	return n
}

var passed = grading.Verdict{Challenge: "idempotent-payments", Status: grading.Passed, Score: 100,
	Scenarios: []grading.ScenarioResult{{Slug: "basic_request_handling", Visibility: "public", Weight: 1, Outcome: grading.OutcomePassed}}}

// TestPublishingIsItsOwnLifecycle: a verdict is stored once and published step by step; a
// comment that fails after the check run completed is retried on its own, and the success is
// never overwritten (it used to become "skipped · Superseded").
func TestPublishingIsItsOwnLifecycle(t *testing.T) {
	p := newPublisher(t, Options{})
	p.start()
	ctx := context.Background()
	if err := p.st.UpsertPullRequest(ctx, p.a.ID, 3, "feature", sha("f1"), true); err != nil {
		t.Fatal(err)
	}
	id := p.push("feature", "f1", true)
	p.published(id, store.PublishedQueued, 10*time.Second)
	p.fake.FailNext("issues/create-comment", 1, http.StatusUnprocessableEntity, nil)
	p.grade(id, passed, true)
	p.published(id, store.PublishedCommented, 20*time.Second)

	crs := p.checkRuns("f1")
	if len(crs) != 1 {
		t.Fatalf("%d check runs; want 1: %+v", len(crs), crs)
	}
	if got := strings.Join(crs[0].History, " "); got != "queued in_progress completed:success" {
		t.Fatalf("history %q; want queued → in_progress → completed:success", got)
	}
	if crs[0].Output.Title != "Passed · 100/100" || crs[0].ExternalID != fmt.Sprint(id) || crs[0].DetailsURL != "http://holdfast.test/runs/"+p.reportToken(id) {
		t.Fatalf("check run %+v", crs[0])
	}
	if s := crs[0].Output.Summary; strings.Contains(s, "100/100") {
		t.Fatalf("the summary says the title's verdict again:\n%s", s)
	}
	if cs := p.fake.Comments(pubOwner, pubName, 3); len(cs) != 1 || !strings.Contains(cs[0].Body, "Passed · 100/100") {
		t.Fatalf("comments %+v; want one showing the pass", cs)
	}
	if n := p.calls("issues/create-comment"); n != 2 {
		t.Fatalf("%d comment creations; want the failed one and one retry", n)
	}
	completions := 0
	for _, c := range p.fake.Calls() {
		if c.OperationID == "checks/update" && strings.Contains(string(c.Body), `"conclusion"`) {
			completions++
		}
	}
	if completions != 1 {
		t.Fatalf("the check run was completed %d times; want once (the comment's retry must not publish again)", completions)
	}

	// Publishing again changes nothing on GitHub.
	before := len(p.fake.Calls())
	if _, err := p.rc.Insert(ctx, PublishArgs{RunID: id}, nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if after := p.fake.Calls(); len(after) != before {
		t.Fatalf("a second publication of a published run called GitHub: %+v", after[before:])
	}
	// And the stored state never moves back.
	if err := p.st.SetPublished(ctx, store.SubjectRun, id, store.PublishedQueued); err != nil {
		t.Fatal(err)
	}
	if run, _ := p.st.GetRun(ctx, id); run.Published != store.PublishedCommented {
		t.Fatalf("published went back to %q", run.Published)
	}
}

// TestPublishingWaitsOutGitHub: 500s and secondary rate limits on every operation, then a
// recovery: each run ends with exactly one check run, completed with its verdict.
func TestPublishingWaitsOutGitHub(t *testing.T) {
	p := newPublisher(t, Options{})
	p.fake.SetOutage(&githubtest.Outage{Status: http.StatusForbidden, Header: http.Header{"Retry-After": {"2"}}})
	p.start()
	ids := []int64{p.push("main", "r1", true), p.push("b2", "r2", true)}
	p.grade(ids[0], passed, true)
	time.Sleep(1500 * time.Millisecond)
	if n := len(p.fake.CheckRuns(pubOwner, pubName)); n != 0 {
		t.Fatalf("%d check runs during the outage", n)
	}
	p.fake.SetOutage(&githubtest.Outage{Status: http.StatusServiceUnavailable})
	time.Sleep(time.Second)
	p.fake.SetOutage(nil)
	p.published(ids[0], store.PublishedCommented, 90*time.Second)
	p.published(ids[1], store.PublishedQueued, 30*time.Second)
	limited := 0
	for _, c := range p.fake.Calls() {
		if c.Status == http.StatusForbidden {
			limited++
		}
	}
	if limited == 0 {
		t.Fatal("no request met the rate limit: the test proves nothing")
	}
	for _, label := range []string{"r1", "r2"} {
		if crs := p.checkRuns(label); len(crs) != 1 {
			t.Fatalf("%s: %d check runs; want exactly 1", label, len(crs))
		}
	}
	if cr := p.checkRuns("r1")[0]; cr.Conclusion != "success" {
		t.Fatalf("r1 concluded %q", cr.Conclusion)
	}
	if cr := p.checkRuns("r2")[0]; cr.Status != "queued" {
		t.Fatalf("r2 is %q; want queued (it was never graded)", cr.Status)
	}
}

// TestLostCreateAnswerMakesNoSecondCheckRun: GitHub made the check run but its answer never
// arrived; the next publisher finds it by external_id.
func TestLostCreateAnswerMakesNoSecondCheckRun(t *testing.T) {
	p := newPublisher(t, Options{})
	ctx := context.Background()
	id := p.push("main", "lost", false)
	if err := p.st.MarkCheckRunRequested(ctx, store.SubjectRun, id); err != nil {
		t.Fatal(err)
	}
	// What GitHub kept of the request whose answer was lost.
	c := gh.NewClient(nil).WithAuthToken(p.fake.Token(pubInst))
	c.BaseURL, _ = c.BaseURL.Parse(p.fake.URL + "/")
	made, _, err := c.Checks.CreateCheckRun(ctx, pubOwner, pubName, gh.CreateCheckRunOptions{Name: github.CheckName, HeadSHA: sha("lost"),
		ExternalID: gh.String(fmt.Sprint(id)), Status: gh.String("queued")})
	if err != nil {
		t.Fatal(err)
	}
	// Another run's check run on the same commit (a re-run) must not be taken for it.
	if _, _, err := c.Checks.CreateCheckRun(ctx, pubOwner, pubName, gh.CreateCheckRunOptions{Name: github.CheckName, HeadSHA: sha("lost"),
		ExternalID: gh.String(fmt.Sprint(id + 1000)), Status: gh.String("queued")}); err != nil {
		t.Fatal(err)
	}
	p.start()
	p.grade(id, passed, true)
	run := p.published(id, store.PublishedCommented, 20*time.Second)
	if run.CheckRunID == nil || *run.CheckRunID != made.GetID() {
		t.Fatalf("run's check run %v; want the one GitHub made, %d", run.CheckRunID, made.GetID())
	}
	if n := p.calls("checks/create"); n != 2 {
		t.Fatalf("%d check runs created; want none besides the test's two", n)
	}
	if n := p.calls("checks/list-for-ref"); n != 1 {
		t.Fatalf("%d searches; want 1", n)
	}
}

// TestReconcilerFinishesWhatJobsLeft: runs whose publication jobs were lost, and a run whose
// grading job is gone, are driven to the end after a restart.
func TestReconcilerFinishesWhatJobsLeft(t *testing.T) {
	p := newPublisher(t, Options{ReconcileIdle: time.Millisecond})
	ctx := context.Background()
	queued := p.push("q", "queued", false)
	done := p.push("d", "done", false)
	p.grade(done, passed, false)
	orphan := p.push("o", "orphan", false) // no grade job exists for it
	if _, err := p.st.Pool.Exec(ctx, `UPDATE runs SET created_at = now() - interval '10 minutes' WHERE id = $1`, orphan); err != nil {
		t.Fatal(err)
	}
	superseded := p.push("s", "old", false)
	p.push("s", "new", false)
	p.start() // the reconciler runs when the client starts

	p.published(queued, store.PublishedQueued, 30*time.Second)
	p.published(done, store.PublishedCommented, 30*time.Second)
	p.published(superseded, store.PublishedCompleted, 30*time.Second)
	p.published(orphan, store.PublishedCommented, 30*time.Second)
	if cr := p.checkRuns("done"); len(cr) != 1 || cr[0].Conclusion != "success" {
		t.Fatalf("done: %+v", cr)
	}
	if cr := p.checkRuns("old"); len(cr) != 1 || cr[0].Conclusion != "skipped" {
		t.Fatalf("superseded: %+v", cr)
	}
	if cr := p.checkRuns("orphan"); len(cr) != 1 || cr[0].Conclusion != "neutral" || cr[0].Output.Title != "Grader error" {
		t.Fatalf("orphan: %+v", cr)
	}
	if v, err := p.st.RunVerdict(ctx, orphan); err != nil || v.Status != grading.GraderError {
		t.Fatalf("orphan's verdict %+v, %v", v, err)
	}
}

// TestWorkersWithoutAGraderHaveATimeout: the App's River client has no grader, and River asks
// every worker for its timeout when it rescues jobs (the App used to panic there).
func TestWorkersWithoutAGraderHaveATimeout(t *testing.T) {
	want := GradeTimeout(0)
	if got := (&GradeWorker{}).Timeout(nil); got != want {
		t.Errorf("grade: %s; want %s", got, want)
	}
	if got := (&CompareWorker{}).Timeout(nil); got != want {
		t.Errorf("compare: %s; want %s", got, want)
	}
	if got := (&FinalGradeWorker{}).Timeout(nil); got != want {
		t.Errorf("final grade: %s; want %s", got, want)
	}
}

func (p *publisher) reportToken(id int64) string {
	p.t.Helper()
	token, err := p.st.ReportToken(context.Background(), id)
	if err != nil || len(token) != 64 {
		p.t.Fatalf("run %d's report token %q, %v", id, token, err)
	}
	return token
}
