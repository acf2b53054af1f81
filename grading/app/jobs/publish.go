package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/app/github"
	"github.com/holdfast-ci/holdfast/grading/app/store"
	"github.com/holdfast-ci/holdfast/grading/metrics"
)

// Publishing is a lifecycle of its own, apart from grading. What is published is a subject: a
// run (a push's grading) or a refactor pull request's comparison (compare.go). The grade and
// compare workers store what happened (started, verdict or result) and queue a PublishArgs; the
// publish worker drives what GitHub shows — check run queued → in_progress → completed,
// annotations, the sticky comments — towards that stored state, step by step, recording each
// step (runs.published, comparisons.published), so that:
//   - a grading is never run again because GitHub failed: only publishing is retried, for
//     hours (River's backoff over PublishAttempts), waiting out rate limits by snoozing until
//     GitHub's reset or Retry-After;
//   - nothing goes backwards: a step already published is never sent again, so a completed
//     conclusion is never overwritten by an older or equal one;
//   - a failed comment is retried on its own, after the check run completed;
//   - no GitHub call is made inside a transaction or while a pool connection is held: a
//     subject's publisher holds a lease (a timestamp), not a lock;
//   - a check run whose creation's answer was lost is found by its external_id before another
//     is made.
// Runs and comparisons differ only in what they show (subject: the check run's commit,
// external_id and details page, the completion, the comment's key, text and pull requests).
// The reconciler (ReconcileArgs) queues a publication for every subject whose GitHub state
// lags, and completes those no grading job will ever finish, so that nothing stays stuck even
// after every process was down.

// PublishAttempts bounds a publication's retries: with River's backoff (attempt⁴ seconds) the
// last of 20 comes after about two days.
const PublishAttempts = 20

// publishLease is how long a publisher may take over one subject before another may step in; a
// publication's GitHub calls are bounded well within it (publishBudget).
const (
	publishLease  = 3 * time.Minute
	publishBudget = 2 * time.Minute
)

// PublishArgs asks for a run's (RunID) or a refactor comparison's (ComparisonID) GitHub state
// to be brought up to its stored state. One of them is set; jobs queued before comparisons were
// published this way carry run_id only.
type PublishArgs struct {
	RunID        int64 `json:"run_id,omitempty"`
	ComparisonID int64 `json:"comparison_id,omitempty"`
}

// Kind implements river.JobArgs.
func (PublishArgs) Kind() string { return "publish" }

// InsertOpts implements river.JobArgsWithInsertOpts. Not unique: a state change while a
// publication runs queues another, which finds the lease free once the first is done.
func (PublishArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueGitHub, MaxAttempts: PublishAttempts}
}

// subject is what the job publishes.
func (a PublishArgs) subject() (store.Subject, int64) {
	if a.ComparisonID != 0 {
		return store.SubjectComparison, a.ComparisonID
	}
	return store.SubjectRun, a.RunID
}

// PublishWorker publishes runs and comparisons.
type PublishWorker struct {
	river.WorkerDefaults[PublishArgs]
	Deps
}

// Timeout implements river.Worker.
func (w *PublishWorker) Timeout(*river.Job[PublishArgs]) time.Duration { return publishLease }

// Work implements river.Worker.
func (w *PublishWorker) Work(ctx context.Context, job *river.Job[PublishArgs]) error {
	kind, id := job.Args.subject()
	return w.publishOne(ctx, kind, id, job.Attempt, job.MaxAttempts)
}

// publishRun is one publication of a run; the report-queued job (of deliveries stored before
// publishing was its own lifecycle) does the same.
func (d *Deps) publishRun(ctx context.Context, runID int64, attempt, maxAttempts int) error {
	return d.publishOne(ctx, store.SubjectRun, runID, attempt, maxAttempts)
}

// publishOne is one publication of a run or a comparison, under its lease.
func (d *Deps) publishOne(ctx context.Context, kind store.Subject, id int64, attempt, maxAttempts int) error {
	held, err := d.Store.ClaimPublication(ctx, kind, id, publishLease)
	if errors.Is(err, store.ErrNotFound) {
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	if held {
		return river.JobSnooze(2 * time.Second) // another publisher is on it; look again after it
	}
	pctx, cancel := context.WithTimeout(ctx, publishBudget)
	s, err := d.subject(pctx, kind, id) // read after the claim: what the last publisher stored
	if err == nil {
		err = d.publish(pctx, s)
	}
	cancel()
	if rerr := d.Store.ReleasePublication(context.WithoutCancel(ctx), kind, id); rerr != nil && err == nil {
		err = rerr
	}
	if err == nil {
		return nil
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return river.JobSnooze(0) // shutting down: hand it back without spending an attempt
	}
	if wait, ok := github.Wait(err); ok {
		d.Log.Warn("publishing waits for GitHub's rate limit", kind.String()+"_id", id, "wait", wait, "err", err)
		return river.JobSnooze(wait)
	}
	d.Log.Error("publishing failed; it is retried", kind.String()+"_id", id, "attempt", attempt, "max_attempts", maxAttempts, "err", err)
	return err
}

// subject is what one publication shows on GitHub: a run or a comparison. Both go through the
// same steps (publish); a subject only says where it stands and what it shows.
type subject interface {
	// state is the subject's stored state, as far as publishing is concerned.
	state() pubState
	// report is what the subject shows once done: how its check run completes and, when it
	// completed (was not superseded), its sticky comment.
	report(ctx context.Context, st *store.Store) (github.Completion, sticky, error)
}

// pubState is a subject's stored state as its publisher sees it.
type pubState struct {
	Kind       store.Subject
	ID         int64 // within Kind; a newer subject of the same comment key has a greater one
	Assignment store.Assignment
	// Status is queued, in_progress, completed or superseded; StartedAt is when its grading
	// started. Hidden subjects (a take-home's final run) are never shown.
	Status    string
	StartedAt *time.Time
	Hidden    bool
	// SHA, ExternalID and DetailsURL place the check run: its commit, its external_id and its
	// details_url ("" for none).
	SHA, ExternalID, DetailsURL string
	// Published is how far GitHub shows the subject; CheckRunID its check run once known;
	// CheckRunRequested says one was asked for, answered or not.
	Published         string
	CheckRunID        *int64
	CheckRunRequested bool
}

// sticky is a subject's report in the sticky comment of its pull requests.
type sticky struct {
	Key  string // pr_comments' key and the marker's: the challenge, or CommentKey's
	PRs  []int
	Body string // the comment below its marker
}

// subject reads the subject kind id.
func (d *Deps) subject(ctx context.Context, kind store.Subject, id int64) (subject, error) {
	switch kind {
	case store.SubjectRun:
		run, err := d.Store.GetRun(ctx, id)
		// The report's link carries the run's random token, not its number (reports are private).
		return runSubject{run: run, details: fmt.Sprintf("%s/runs/%s", d.PublicURL, run.ReportToken)}, err
	case store.SubjectComparison:
		c, err := d.Store.GetComparison(ctx, id)
		return comparisonSubject{c}, err
	}
	return nil, fmt.Errorf("publish: unknown subject %v", kind)
}

// target is how far GitHub should show a subject.
func target(p pubState) string {
	if p.Hidden {
		return store.PublishedNone
	}
	switch p.Status {
	case "queued":
		return store.PublishedQueued
	case "in_progress":
		return store.PublishedInProgress
	case "superseded":
		return store.PublishedCompleted
	}
	return store.PublishedCommented
}

// publish takes a subject's GitHub state from where it is to its target, storing each step.
func (d *Deps) publish(ctx context.Context, s subject) error {
	p := s.state()
	want := target(p)
	if store.PublishedRank(p.Published) >= store.PublishedRank(want) {
		return nil
	}
	a := p.Assignment
	inst := d.GitHub.Installation(a.InstallationID)
	checkID, err := d.checkRun(ctx, inst, p)
	if err != nil {
		return err
	}
	step := func(state string) error { return d.Store.SetPublished(ctx, p.Kind, p.ID, state) }
	if store.PublishedRank(p.Published) < store.PublishedRank(store.PublishedQueued) {
		if err := step(store.PublishedQueued); err != nil {
			return err
		}
	}
	if store.PublishedRank(p.Published) < store.PublishedRank(store.PublishedInProgress) && store.PublishedRank(want) >= store.PublishedRank(store.PublishedInProgress) && p.StartedAt != nil && p.Status != "superseded" {
		if err := inst.StartCheckRun(ctx, a.Owner, a.Name, checkID, *p.StartedAt); err != nil {
			return err
		}
		if err := step(store.PublishedInProgress); err != nil {
			return err
		}
	}
	if store.PublishedRank(want) < store.PublishedRank(store.PublishedCompleted) {
		return nil
	}
	done, comment, err := s.report(ctx, d.Store)
	if err != nil {
		return fmt.Errorf("read %s %d's report: %w", p.Kind, p.ID, err)
	}
	if store.PublishedRank(p.Published) < store.PublishedRank(store.PublishedCompleted) {
		if err := inst.CompleteCheckRun(ctx, a.Owner, a.Name, checkID, done); err != nil {
			return err
		}
		if err := step(store.PublishedCompleted); err != nil {
			return err
		}
	}
	if want != store.PublishedCommented {
		return nil
	}
	for _, pr := range comment.PRs {
		if err := d.comment(ctx, p, comment, pr); err != nil {
			return err
		}
	}
	return step(store.PublishedCommented)
}

// checkRun returns the subject's check run, making it (queued) if GitHub has none: after a
// request whose answer was lost, GitHub is searched for it by external_id first.
func (d *Deps) checkRun(ctx context.Context, inst *github.Installation, p pubState) (int64, error) {
	if p.CheckRunID != nil {
		return *p.CheckRunID, nil
	}
	a := p.Assignment
	var id int64
	found := false
	if p.CheckRunRequested {
		var err error
		if id, found, err = inst.FindCheckRun(ctx, a.Owner, a.Name, p.SHA, p.ExternalID); err != nil {
			return 0, err
		}
	}
	if !found {
		if err := d.Store.MarkCheckRunRequested(ctx, p.Kind, p.ID); err != nil {
			return 0, err
		}
		var err error
		if id, err = inst.CreateCheckRun(ctx, a.Owner, a.Name, p.SHA, p.DetailsURL, p.ExternalID); err != nil {
			return 0, err
		}
	}
	return d.Store.SaveCheckRun(ctx, p.Kind, p.ID, id)
}

// superseded is how a superseded subject's check run ends: skipped when a newer push came before
// its grading started, cancelled when it came during it. where is what was pushed to ("this
// branch"), done what happens to a commit there ("graded").
func superseded(started bool, where, done string) github.Completion {
	if !started {
		return github.Completion{Conclusion: "skipped", Title: "Superseded",
			Summary: fmt.Sprintf("A newer push to %s is being %s instead of this commit.", where, done)}
	}
	return github.Completion{Conclusion: "cancelled", Title: "Superseded",
		Summary: fmt.Sprintf("A newer push to %s arrived while this commit was %s; its result is reported there.", where, done)}
}

// annotations turns a learner's annotations into the check run's.
func annotations(as []grading.Annotation) []github.Annotation {
	var out []github.Annotation
	for _, an := range as {
		out = append(out, github.Annotation{Path: an.Path, StartLine: an.Line, Column: an.Column, Message: an.Message, Title: "Holdfast"})
	}
	return out
}

// runSubject is a push's grading: its check run is on the commit, with the run id as
// external_id and its page as details; its report goes to the open pull requests of its branch.
type runSubject struct {
	run     store.Run
	details string
}

func (r runSubject) state() pubState {
	run := r.run
	return pubState{Kind: store.SubjectRun, ID: run.ID, Assignment: run.Assignment, Status: run.Status, StartedAt: run.StartedAt,
		Hidden: run.Final, SHA: run.SHA, ExternalID: fmt.Sprint(run.ID), DetailsURL: r.details,
		Published: run.Published, CheckRunID: run.CheckRunID, CheckRunRequested: run.CheckRunRequested}
}

func (r runSubject) report(ctx context.Context, st *store.Store) (github.Completion, sticky, error) {
	run, a := r.run, r.run.Assignment
	if run.Status == "superseded" {
		return superseded(run.StartedAt != nil, "this branch", "graded"), sticky{}, nil
	}
	v, err := st.RunVerdict(ctx, run.ID)
	if err != nil {
		return github.Completion{}, sticky{}, err
	}
	prs, err := st.OpenPullRequests(ctx, a.ID, run.Branch)
	if err != nil {
		return github.Completion{}, sticky{}, err
	}
	learner := grading.ForView(v, grading.LearnerView)
	// The check run's title states the verdict, so its summary does not; the comment has no
	// title, so it opens with the verdict.
	return github.Completion{Conclusion: Conclusion(v.Status), Title: grading.Title(v), Summary: grading.MarkdownBody(learner),
			Annotations: annotations(learner.Annotations), Rerun: true},
		sticky{Key: a.Challenge, PRs: prs, Body: fmt.Sprintf("**Holdfast** · `%s` · commit %s\n\n%s", a.Challenge, short(run.SHA), grading.Markdown(learner))}, nil
}

// commentLease bounds one sticky-comment write (a few GitHub calls).
const commentLease = time.Minute

// comment writes a subject's report into the pull request's sticky comment, unless the comment
// already shows this subject or a newer one. Writers of one comment take turns by a lease.
func (d *Deps) comment(ctx context.Context, p pubState, c sticky, pr int) error {
	a := p.Assignment
	for tries := 0; ; tries++ {
		known, shown, held, err := d.Store.ClaimComment(ctx, a.ID, pr, c.Key, commentLease)
		if err != nil {
			return err
		}
		if held {
			if tries >= 100 {
				return fmt.Errorf("the sticky comment of #%d stayed busy", pr)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		if shown >= p.ID {
			return d.Store.ReleaseComment(context.WithoutCancel(ctx), a.ID, pr, c.Key, 0, 0)
		}
		id, err := d.GitHub.Installation(a.InstallationID).UpsertStickyComment(ctx, a.Owner, a.Name, pr, github.Marker(c.Key), c.Body, known)
		if err != nil {
			_ = d.Store.ReleaseComment(context.WithoutCancel(ctx), a.ID, pr, c.Key, 0, 0)
			return err
		}
		return d.Store.ReleaseComment(context.WithoutCancel(ctx), a.ID, pr, c.Key, id, p.ID)
	}
}

// ReconcileArgs asks for every run and comparison whose GitHub state lags to be published,
// and for every one no grading job will finish to be completed as a grader error.
type ReconcileArgs struct{}

// Kind implements river.JobArgs.
func (ReconcileArgs) Kind() string { return "reconcile" }

// InsertOpts implements river.JobArgsWithInsertOpts: one pending at most.
func (ReconcileArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueGitHub, MaxAttempts: 1, UniqueOpts: river.UniqueOpts{ByState: pendingStates}}
}

// DefaultReconcile is how often the reconciler runs when Options.Reconcile is 0.
const DefaultReconcile = time.Minute

// reconcileIdle is how long a subject's state must have stood still before the reconciler
// steps in: its own jobs normally publish it within seconds.
const reconcileIdle = 30 * time.Second

// ReconcileWorker repairs what the other jobs left behind.
type ReconcileWorker struct {
	river.WorkerDefaults[ReconcileArgs]
	Deps
	// Idle overrides reconcileIdle (tests).
	Idle time.Duration
}

// Work implements river.Worker.
func (w *ReconcileWorker) Work(ctx context.Context, _ *river.Job[ReconcileArgs]) error {
	idle := w.Idle
	if idle == 0 {
		idle = reconcileIdle
	}
	orphanAge := max(idle, 2*time.Minute)
	runs, err := w.Store.OrphanedRuns(ctx, orphanAge, 500)
	if err != nil {
		return err
	}
	for _, id := range runs {
		if err := w.completeOrphan(ctx, store.SubjectRun, id); err != nil {
			return err
		}
	}
	comparisons, err := w.Store.OrphanedComparisons(ctx, orphanAge, 500)
	if err != nil {
		return err
	}
	for _, id := range comparisons {
		if err := w.completeOrphan(ctx, store.SubjectComparison, id); err != nil {
			return err
		}
	}
	lagging, err := w.Store.UnpublishedRuns(ctx, idle, 1000)
	if err != nil {
		return err
	}
	params := make([]river.InsertManyParams, 0, len(lagging))
	for _, id := range lagging {
		params = append(params, river.InsertManyParams{Args: PublishArgs{RunID: id}})
	}
	if lagging, err = w.Store.UnpublishedComparisons(ctx, idle, 1000); err != nil {
		return err
	}
	for _, id := range lagging {
		params = append(params, river.InsertManyParams{Args: PublishArgs{ComparisonID: id}})
	}
	if len(params) == 0 {
		return nil
	}
	for i := range params {
		// Unique while pending: a reconciler that runs again during a long outage adds none.
		params[i].InsertOpts = &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: pendingStates}}
	}
	res, err := river.ClientFromContext[pgx.Tx](ctx).InsertMany(ctx, params)
	if err != nil {
		return fmt.Errorf("queue %d publications: %w", len(params), err)
	}
	queued := 0
	for i, r := range res {
		if !r.UniqueSkippedAsDuplicate {
			queued++
			kind, _ := params[i].Args.(PublishArgs).subject()
			metrics.Repaired("unpublished_" + kind.String())
		}
	}
	if queued > 0 {
		w.Log.Warn("reconciler: publishing runs and comparisons whose GitHub state lags", "publications", queued)
	}
	return nil
}

// completeOrphan completes, as a grader error, a run or a comparison that no job will finish,
// and queues its publication, in one transaction.
func (w *ReconcileWorker) completeOrphan(ctx context.Context, kind store.Subject, id int64) error {
	msg := "Holdfast lost this grading (its job ended without a verdict)."
	err := pgx.BeginFunc(ctx, w.Store.Pool, func(tx pgx.Tx) error {
		var publish PublishArgs
		switch kind {
		case store.SubjectRun:
			run, err := store.LockRun(ctx, tx, id)
			if err != nil {
				return err
			}
			if run.Status != "queued" && run.Status != "in_progress" {
				return nil // finished meanwhile: its verdict stands
			}
			v := grading.Verdict{Challenge: run.Assignment.Challenge, Status: grading.GraderError, Message: msg}
			if _, err := store.CompleteRun(ctx, tx, id, v); err != nil {
				return err
			}
			publish = PublishArgs{RunID: id}
		case store.SubjectComparison:
			c, err := store.LockComparison(ctx, tx, id)
			if err != nil {
				return err
			}
			if c.Status != "queued" && c.Status != "in_progress" {
				return nil // finished meanwhile
			}
			if _, err := store.CompleteComparison(ctx, tx, id, graderError(c.Assignment.Challenge, msg)); err != nil {
				return err
			}
			publish = PublishArgs{ComparisonID: id}
		}
		_, err := river.ClientFromContext[pgx.Tx](ctx).InsertTx(ctx, tx, publish, nil)
		return err
	})
	if err != nil {
		return fmt.Errorf("complete orphaned %s %d: %w", kind, id, err)
	}
	w.Log.Warn("reconciler: a grading no job would finish was completed as a grader error", kind.String()+"_id", id)
	metrics.Repaired("orphaned_" + kind.String())
	return nil
}
