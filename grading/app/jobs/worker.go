package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/app/github"
	"github.com/holdfast-ci/holdfast/grading/app/store"
)

// Deps are what the workers use.
type Deps struct {
	Store  *store.Store
	GitHub *github.App
	Grader *grading.Grader
	// Challenge finds a challenge by slug.
	Challenge func(slug string) (grading.Challenge, error)
	// PublicURL is where the App serves run pages, for check runs' details_url.
	PublicURL string
	Log       *slog.Logger
	// Images, when set, keeps the runner's engine within its disk (grading/docker's Keeper).
	Images Images
}

// Images is what a runner's gradings ask of the engine's image policy.
type Images interface {
	// Serve returns the context a grading of repo's branch at commit runs under, and done, to
	// call after it: its image is labelled and held meanwhile, the branch's older images go after.
	Serve(ctx context.Context, repo, branch, commit string) (context.Context, func())
	// Room returns why the runner must take no job now (its engine's disk is below the floor),
	// or nil.
	Room(ctx context.Context) error
}

// ReportQueuedWorker publishes a run's queued check run: the job the webhook handler queued
// before publishing became its own lifecycle. Jobs of that kind still in a queue when Holdfast is
// upgraded are done as a publication.
type ReportQueuedWorker struct {
	river.WorkerDefaults[ReportQueuedArgs]
	Deps
}

// Work implements river.Worker.
func (w *ReportQueuedWorker) Work(ctx context.Context, job *river.Job[ReportQueuedArgs]) error {
	return w.publishRun(ctx, job.Args.RunID, job.Attempt, job.MaxAttempts)
}

// GradeWorker grades a run and stores its verdict; a PublishArgs job shows it on GitHub. Apart
// from downloading the commit, it never calls GitHub, so GitHub's outages cost a grading
// nothing and a grading is never run again because publishing failed.
type GradeWorker struct {
	river.WorkerDefaults[GradeArgs]
	Deps
}

// Timeout implements river.Worker: above the grader's hard cap.
func (w *GradeWorker) Timeout(*river.Job[GradeArgs]) time.Duration { return w.gradeTimeout() }

// gradeTimeout is a grading job's timeout; a client without a grader (the App's) has none of its
// own and uses the default hard cap's, since River asks every worker for its timeout.
func (d *Deps) gradeTimeout() time.Duration {
	if d.Grader == nil {
		return GradeTimeout(0)
	}
	return GradeTimeout(d.Grader.HardCap)
}

// NextRetry implements river.Worker: see retryAt.
func (w *GradeWorker) NextRetry(job *river.Job[GradeArgs]) time.Time { return retryAt(job.Attempt) }

// retryAt is when a grading (of a run, or a side of a comparison) that failed on attempt is
// tried again: Holdfast's own failures (an engine restarting, GitHub's tarball failing) are
// retried after 15 s, 1 min and 4 min, not within seconds.
func retryAt(attempt int) time.Time {
	return time.Now().Add(15 * time.Second << (2 * min(attempt-1, 3)))
}

// GradeAttempts bounds a grading's attempts; the last one that fails is published as a
// grader error.
const GradeAttempts = 4

// Work implements river.Worker.
func (w *GradeWorker) Work(ctx context.Context, job *river.Job[GradeArgs]) error {
	log := w.Log.With("run_id", job.Args.RunID, "attempt", job.Attempt)
	run, err := w.Store.GetRun(ctx, job.Args.RunID)
	if errors.Is(err, store.ErrNotFound) {
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	if run.Status == "queued" || run.Status == "in_progress" {
		if err := w.canTake(ctx, "run_id", run.ID); err != nil {
			return err
		}
	}
	var started bool
	err = pgx.BeginFunc(ctx, w.Store.Pool, func(tx pgx.Tx) error {
		if started, err = store.StartRunTx(ctx, tx, run.ID); err != nil {
			return err
		}
		return w.queuePublish(ctx, tx, run.ID)
	})
	if err != nil {
		return err
	}
	if !started {
		// Superseded before it was graded, or graded by an earlier attempt that stored its
		// verdict: the publication queued above shows it.
		return nil
	}
	a := run.Assignment
	ch, err := w.Challenge(a.Challenge)
	if err != nil {
		err = fmt.Errorf("assignment %d: %w", a.ID, err)
		_ = w.complete(ctx, run, grading.Verdict{Challenge: a.Challenge, Status: grading.GraderError})
		return river.JobCancel(err)
	}
	dir, err := os.MkdirTemp("", "holdfast-src-")
	if err != nil {
		return w.failed(ctx, job, run, err)
	}
	defer os.RemoveAll(dir)

	var v grading.Verdict
	switch err := w.GitHub.Installation(a.InstallationID).DownloadCommit(ctx, a.Owner, a.Name, run.SHA, dir); {
	case errors.Is(err, github.ErrSourceTooLarge):
		v = grading.Verdict{Challenge: ch.Slug, Status: grading.BuildFailed, Message: "Your repository is too large to grade: " + err.Error() + ". Remove build output, dependencies and data files from it."}
	case err != nil:
		return w.failed(ctx, job, run, err)
	default:
		log.Info("grading", "repo", a.Owner+"/"+a.Name, "sha", run.SHA)
		gctx, done := w.serve(ctx, a.Owner+"/"+a.Name, run.Branch, run.SHA)
		v, err = w.Grader.Grade(gctx, ch, dir, nil)
		done()
		if err != nil {
			return w.failed(ctx, job, run, err)
		}
		if v.Status == grading.GraderError && job.Attempt < job.MaxAttempts {
			// Holdfast's failure, whatever the grader made of it: try again before it is ever
			// shown as neutral.
			return w.failed(ctx, job, run, fmt.Errorf("grader error: %s", v.Message))
		}
	}
	return w.complete(ctx, run, v)
}

// EngineRetry is how long a grading waits when its runner's engine does not answer. The job is
// snoozed, which spends no attempt, so an engine restart never turns into a grader error; any
// runner whose engine answers may take it meanwhile.
const EngineRetry = 15 * time.Second

// engineDown hands a grading (of the run or comparison named by key and id) back because the
// runner's Docker engine does not answer.
func (d *Deps) engineDown(key string, id int64, err error) error {
	d.Log.Warn("the Docker engine does not answer: the grading is handed back", key, id, "retry_in", EngineRetry, "err", err)
	return river.JobSnooze(EngineRetry)
}

// canTake returns the snooze that hands a grading (of the run or comparison named by key and
// id) back before it starts, when this runner cannot grade now: its engine does not answer, or,
// with an image policy, its engine's disk is below the floor. No attempt is spent, and any
// runner that can grade it may take it meanwhile. It returns nil when the runner can.
func (d *Deps) canTake(ctx context.Context, key string, id int64) error {
	if err := d.Grader.Ready(ctx); err != nil {
		return d.engineDown(key, id, err)
	}
	if d.Images == nil {
		return nil
	}
	if err := d.Images.Room(ctx); err != nil {
		d.Log.Warn("no room on the Docker engine's disk: the grading is handed back", key, id, "retry_in", EngineRetry, "err", err)
		return river.JobSnooze(EngineRetry)
	}
	return nil
}

// serve runs a grading under the image policy, when there is one.
func (d *Deps) serve(ctx context.Context, repo, branch, commit string) (context.Context, func()) {
	if d.Images == nil {
		return ctx, func() {}
	}
	return d.Images.Serve(ctx, repo, branch, commit)
}

// queuePublish queues a publication of run in tx.
func (d *Deps) queuePublish(ctx context.Context, tx pgx.Tx, runID int64) error {
	rc, err := river.ClientFromContextSafely[pgx.Tx](ctx)
	if err != nil {
		return err
	}
	if _, err := rc.InsertTx(ctx, tx, PublishArgs{RunID: runID}, nil); err != nil {
		return fmt.Errorf("queue the publication of run %d: %w", runID, err)
	}
	return nil
}

// complete stores the verdict (unless a newer push superseded the run meanwhile: a stale
// result is never published over a newer one) and queues its publication, in one transaction.
// It runs after the grading's context ended too (a hard cap, a shutdown): the verdict is kept.
func (w *GradeWorker) complete(ctx context.Context, run store.Run, v grading.Verdict) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	err := pgx.BeginFunc(sctx, w.Store.Pool, func(tx pgx.Tx) error {
		if _, err := store.CompleteRun(sctx, tx, run.ID, v); err != nil {
			return err
		}
		return w.queuePublish(ctx, tx, run.ID)
	})
	if err != nil {
		return fmt.Errorf("store run %d's verdict: %w", run.ID, err)
	}
	return nil
}

// failed handles Holdfast's own failure: River retries the job; the last attempt stores a
// grader error, published as neutral with a Re-run button, so the check run never stays in
// progress.
func (w *GradeWorker) failed(ctx context.Context, job *river.Job[GradeArgs], run store.Run, cause error) error {
	if err := w.handBack(ctx, "run_id", run.ID, cause); err != nil {
		return err
	}
	w.Log.Error("grading failed", "run_id", run.ID, "attempt", job.Attempt, "max_attempts", job.MaxAttempts, "err", cause)
	if job.Attempt < job.MaxAttempts {
		return cause
	}
	v := grading.Verdict{Challenge: run.Assignment.Challenge, Status: grading.GraderError}
	if err := w.complete(ctx, run, v); err != nil {
		// The reconciler completes runs no job will finish.
		w.Log.Error("could not store the grader error", "run_id", run.ID, "err", err)
	}
	return cause
}

// handBack returns the snooze that hands a failed grading back without spending an attempt when
// the failure is not one to count: the runner shutting down, its engine not answering (another
// runner, or this one once its engine is back, grades it), GitHub rate-limiting the commit's
// download (it waits as GitHub asks). It returns nil for a failure that counts. key and id name
// the run or comparison in the log.
func (d *Deps) handBack(ctx context.Context, key string, id int64, cause error) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		d.Log.Info("handing the grading back", key, id)
		return river.JobSnooze(time.Second)
	}
	// Asked outside ctx: a job that ran out of time must not read as an engine that is down.
	if err := d.Grader.Ready(context.WithoutCancel(ctx)); err != nil {
		return d.engineDown(key, id, fmt.Errorf("%w (the grading failed with: %v)", err, cause))
	}
	if wait, ok := github.Wait(cause); ok {
		d.Log.Warn("downloading the commit waits for GitHub's rate limit", key, id, "wait", wait, "err", cause)
		return river.JobSnooze(wait)
	}
	return nil
}

// Conclusion maps a verdict status to a check run conclusion.
func Conclusion(s grading.Status) string {
	switch s {
	case grading.Passed:
		return "success"
	case grading.GraderError:
		return "neutral"
	}
	return "failure"
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}
