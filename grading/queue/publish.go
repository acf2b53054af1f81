package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/github"
	"github.com/holdfast-ci/holdfast/grading/metrics"
	"github.com/holdfast-ci/holdfast/grading/store"
)

// Publishing is a lifecycle of its own, apart from grading: the grade worker stores what
// happened (started, verdict) and queues a PublishArgs; the publish worker drives what GitHub
// shows — check run queued → in_progress → completed, annotations, the sticky comments —
// towards that stored state, step by step, recording each step (runs.published), so that:
//   - a grading is never run again because GitHub failed: only publishing is retried, for
//     hours (River's backoff over PublishAttempts), waiting out rate limits by snoozing until
//     GitHub's reset or Retry-After;
//   - nothing goes backwards: a step already published is never sent again, so a completed
//     conclusion is never overwritten by an older or equal one;
//   - a failed comment is retried on its own, after the check run completed;
//   - no GitHub call is made inside a transaction or while a pool connection is held: a run's
//     publisher holds a lease (a timestamp), not a lock;
//   - a check run whose creation's answer was lost is found by its external_id before another
//     is made.
// The reconciler (ReconcileArgs) queues a publication for every run whose GitHub state lags,
// and completes runs that no grade job will ever finish, so that nothing stays stuck even
// after every process was down.

// PublishAttempts bounds a publication's retries: with River's backoff (attempt⁴ seconds) the
// last of 20 comes after about two days.
const PublishAttempts = 20

// publishLease is how long a publisher may take over one run before another may step in; a
// publication's GitHub calls are bounded well within it (publishBudget).
const (
	publishLease  = 3 * time.Minute
	publishBudget = 2 * time.Minute
)

// PublishArgs asks for a run's GitHub state to be brought up to its stored state.
type PublishArgs struct {
	RunID int64 `json:"run_id"`
}

// Kind implements river.JobArgs.
func (PublishArgs) Kind() string { return "publish" }

// InsertOpts implements river.JobArgsWithInsertOpts. Not unique: a state change while a
// publication runs queues another, which finds the lease free once the first is done.
func (PublishArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueGitHub, MaxAttempts: PublishAttempts}
}

// PublishWorker publishes runs.
type PublishWorker struct {
	river.WorkerDefaults[PublishArgs]
	Deps
}

// Timeout implements river.Worker.
func (w *PublishWorker) Timeout(*river.Job[PublishArgs]) time.Duration { return publishLease }

// Work implements river.Worker.
func (w *PublishWorker) Work(ctx context.Context, job *river.Job[PublishArgs]) error {
	return w.publishRun(ctx, job.Args.RunID, job.Attempt, job.MaxAttempts)
}

// publishRun is one publication of a run; the report-queued job (of deliveries stored before
// publishing was its own lifecycle) does the same.
func (d *Deps) publishRun(ctx context.Context, runID int64, attempt, maxAttempts int) error {
	run, held, err := d.Store.ClaimPublication(ctx, runID, publishLease)
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
	err = d.publish(pctx, run)
	cancel()
	if rerr := d.Store.ReleasePublication(context.WithoutCancel(ctx), runID); rerr != nil && err == nil {
		err = rerr
	}
	if err == nil {
		return nil
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return river.JobSnooze(0) // shutting down: hand it back without spending an attempt
	}
	if wait, ok := github.Wait(err); ok {
		d.Log.Warn("publishing waits for GitHub's rate limit", "run_id", runID, "wait", wait, "err", err)
		return river.JobSnooze(wait)
	}
	d.Log.Error("publishing failed; it is retried", "run_id", runID, "attempt", attempt, "max_attempts", maxAttempts, "err", err)
	return err
}

// rank orders publication states.
var rank = map[string]int{store.PublishedNone: 0, store.PublishedQueued: 1, store.PublishedInProgress: 2,
	store.PublishedCompleted: 3, store.PublishedCommented: 4}

// target is how far GitHub should show run.
func target(run store.Run) string {
	switch run.Status {
	case "queued":
		return store.PublishedQueued
	case "in_progress":
		return store.PublishedInProgress
	case "superseded":
		return store.PublishedCompleted
	}
	return store.PublishedCommented
}

// publish takes run's GitHub state from where it is to its target, storing each step.
func (d *Deps) publish(ctx context.Context, run store.Run) error {
	if run.Final {
		return nil // a take-home's final run is the reviewers', never shown on GitHub
	}
	want := target(run)
	if rank[run.Published] >= rank[want] {
		return nil
	}
	a := run.Assignment
	inst := d.GitHub.Installation(a.InstallationID)
	checkID, err := d.checkRun(ctx, inst, run)
	if err != nil {
		return err
	}
	step := func(state string) error { return d.Store.SetPublished(ctx, run.ID, state) }
	if rank[run.Published] < rank[store.PublishedQueued] {
		if err := step(store.PublishedQueued); err != nil {
			return err
		}
	}
	if rank[run.Published] < rank[store.PublishedInProgress] && rank[want] >= rank[store.PublishedInProgress] && run.StartedAt != nil && run.Status != "superseded" {
		if err := inst.StartCheckRun(ctx, a.Owner, a.Name, checkID, *run.StartedAt); err != nil {
			return err
		}
		if err := step(store.PublishedInProgress); err != nil {
			return err
		}
	}
	if rank[want] < rank[store.PublishedCompleted] {
		return nil
	}
	var v grading.Verdict
	if run.Status == "completed" {
		if v, err = d.Store.RunVerdict(ctx, run.ID); err != nil {
			return fmt.Errorf("read run %d's verdict: %w", run.ID, err)
		}
	}
	if rank[run.Published] < rank[store.PublishedCompleted] {
		if err := inst.CompleteCheckRun(ctx, a.Owner, a.Name, checkID, completion(run, v)); err != nil {
			return err
		}
		if err := step(store.PublishedCompleted); err != nil {
			return err
		}
	}
	if want != store.PublishedCommented {
		return nil
	}
	prs, err := d.Store.OpenPullRequests(ctx, a.ID, run.Branch)
	if err != nil {
		return err
	}
	body := grading.Markdown(grading.ForView(v, grading.LearnerView))
	for _, pr := range prs {
		if err := d.comment(ctx, run, pr, body); err != nil {
			return err
		}
	}
	return step(store.PublishedCommented)
}

// checkRun returns the run's check run, making it (queued) if GitHub has none: after a request
// whose answer was lost, GitHub is searched for it by external_id first.
func (d *Deps) checkRun(ctx context.Context, inst *github.Installation, run store.Run) (int64, error) {
	if run.CheckRunID != nil {
		return *run.CheckRunID, nil
	}
	a := run.Assignment
	external := fmt.Sprint(run.ID)
	var id int64
	found := false
	if run.CheckRunRequested {
		var err error
		if id, found, err = inst.FindCheckRun(ctx, a.Owner, a.Name, run.SHA, external); err != nil {
			return 0, err
		}
	}
	if !found {
		if err := d.Store.MarkCheckRunRequested(ctx, run.ID); err != nil {
			return 0, err
		}
		var err error
		if id, err = inst.CreateCheckRun(ctx, a.Owner, a.Name, run.SHA, fmt.Sprintf("%s/runs/%d", d.PublicURL, run.ID), external); err != nil {
			return 0, err
		}
	}
	return d.Store.SaveCheckRun(ctx, run.ID, id)
}

// completion is how a run's check run ends: its verdict, or skipped/cancelled when a newer push
// superseded it before or while it was graded.
func completion(run store.Run, v grading.Verdict) github.Completion {
	if run.Status == "superseded" {
		if run.StartedAt == nil {
			return github.Completion{Conclusion: "skipped", Title: "Superseded",
				Summary: "A newer push to this branch is being graded instead of this commit."}
		}
		return github.Completion{Conclusion: "cancelled", Title: "Superseded",
			Summary: "A newer push to this branch arrived while this commit was graded; its result is reported there."}
	}
	learner := grading.ForView(v, grading.LearnerView)
	var anns []github.Annotation
	for _, an := range learner.Annotations {
		anns = append(anns, github.Annotation{Path: an.Path, StartLine: an.Line, Column: an.Column, Message: an.Message, Title: "Holdfast"})
	}
	return github.Completion{Conclusion: Conclusion(v.Status), Title: grading.Title(v), Summary: grading.Markdown(learner),
		Annotations: anns, Rerun: true}
}

// commentLease bounds one sticky-comment write (a few GitHub calls).
const commentLease = time.Minute

// comment writes the run's report into the pull request's sticky comment, unless the comment
// already shows this run or a newer one. Writers of one comment take turns by a lease.
func (d *Deps) comment(ctx context.Context, run store.Run, pr int, body string) error {
	a := run.Assignment
	for tries := 0; ; tries++ {
		known, shown, held, err := d.Store.ClaimComment(ctx, a.ID, pr, a.Challenge, commentLease)
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
		if shown >= run.ID {
			return d.Store.ReleaseComment(context.WithoutCancel(ctx), a.ID, pr, a.Challenge, 0, 0)
		}
		id, err := d.GitHub.Installation(a.InstallationID).UpsertStickyComment(ctx, a.Owner, a.Name, pr, github.Marker(a.Challenge),
			fmt.Sprintf("**Holdfast** · `%s` · commit %s\n\n%s", a.Challenge, short(run.SHA), body), known)
		if err != nil {
			_ = d.Store.ReleaseComment(context.WithoutCancel(ctx), a.ID, pr, a.Challenge, 0, 0)
			return err
		}
		return d.Store.ReleaseComment(context.WithoutCancel(ctx), a.ID, pr, a.Challenge, id, run.ID)
	}
}

// ReconcileArgs asks for every run whose GitHub state lags to be published, and for every run
// no grading job will finish to be completed as a grader error.
type ReconcileArgs struct{}

// Kind implements river.JobArgs.
func (ReconcileArgs) Kind() string { return "reconcile" }

// InsertOpts implements river.JobArgsWithInsertOpts: one pending at most.
func (ReconcileArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueGitHub, MaxAttempts: 1, UniqueOpts: river.UniqueOpts{ByState: pendingStates}}
}

// DefaultReconcile is how often the reconciler runs when Options.Reconcile is 0.
const DefaultReconcile = time.Minute

// reconcileIdle is how long a run's state must have stood still before the reconciler steps
// in: its own jobs normally publish it within seconds.
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
	rc := river.ClientFromContext[pgx.Tx](ctx)
	orphans, err := w.Store.OrphanedRuns(ctx, max(idle, 2*time.Minute), 500)
	if err != nil {
		return err
	}
	for _, id := range orphans {
		v := grading.Verdict{Status: grading.GraderError, Message: "Holdfast lost this grading (its job ended without a verdict)."}
		err := pgx.BeginFunc(ctx, w.Store.Pool, func(tx pgx.Tx) error {
			run, err := store.LockRun(ctx, tx, id)
			if err != nil {
				return err
			}
			v.Challenge = run.Assignment.Challenge
			if _, err := store.CompleteRun(ctx, tx, id, v); err != nil {
				return err
			}
			_, err = rc.InsertTx(ctx, tx, PublishArgs{RunID: id}, nil)
			return err
		})
		if err != nil {
			return fmt.Errorf("complete orphaned run %d: %w", id, err)
		}
		w.Log.Warn("reconciler: a run no job would finish was completed as a grader error", "run_id", id)
		metrics.Repaired("orphaned_run")
	}
	lagging, err := w.Store.UnpublishedRuns(ctx, idle, 1000)
	if err != nil || len(lagging) == 0 {
		return err
	}
	params := make([]river.InsertManyParams, len(lagging))
	for i, id := range lagging {
		// Unique while pending: a reconciler that runs again during a long outage adds none.
		params[i] = river.InsertManyParams{Args: PublishArgs{RunID: id}, InsertOpts: &river.InsertOpts{
			UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: pendingStates}}}
	}
	res, err := rc.InsertMany(ctx, params)
	if err != nil {
		return fmt.Errorf("queue %d publications: %w", len(lagging), err)
	}
	queued := 0
	for _, r := range res {
		if !r.UniqueSkippedAsDuplicate {
			queued++
			metrics.Repaired("unpublished_run")
		}
	}
	if queued > 0 {
		w.Log.Warn("reconciler: publishing runs whose GitHub state lags", "runs", queued)
	}
	return nil
}
