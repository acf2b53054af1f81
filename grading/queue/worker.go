package queue

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
	"github.com/holdfast-ci/holdfast/grading/github"
	"github.com/holdfast-ci/holdfast/grading/store"
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
}

// ReportQueuedWorker creates the queued check run of a new run.
type ReportQueuedWorker struct {
	river.WorkerDefaults[ReportQueuedArgs]
	Deps
}

// Work implements river.Worker.
func (w *ReportQueuedWorker) Work(ctx context.Context, job *river.Job[ReportQueuedArgs]) error {
	_, _, err := w.ensureCheckRun(ctx, job.Args.RunID)
	if errors.Is(err, store.ErrNotFound) {
		return river.JobCancel(err)
	}
	return err
}

// ensureCheckRun returns the run's check run, creating it (queued) if it does not exist yet. The
// run's row is locked meanwhile, so that the two workers never create two.
func (d *Deps) ensureCheckRun(ctx context.Context, runID int64) (store.Run, int64, error) {
	var run store.Run
	var id int64
	err := pgx.BeginFunc(ctx, d.Store.Pool, func(tx pgx.Tx) error {
		var err error
		if run, err = store.LockRun(ctx, tx, runID); err != nil {
			return err
		}
		if run.CheckRunID != nil {
			id = *run.CheckRunID
			return nil
		}
		a := run.Assignment
		id, err = d.GitHub.Installation(a.InstallationID).CreateCheckRun(ctx, a.Owner, a.Name, run.SHA,
			fmt.Sprintf("%s/runs/%d", d.PublicURL, run.ID), fmt.Sprint(run.ID))
		if err != nil {
			return err
		}
		return store.SetCheckRun(ctx, tx, runID, id)
	})
	return run, id, err
}

// GradeWorker grades a run and reports it.
type GradeWorker struct {
	river.WorkerDefaults[GradeArgs]
	Deps
}

// Timeout implements river.Worker: above the grader's hard cap.
func (w *GradeWorker) Timeout(*river.Job[GradeArgs]) time.Duration {
	return GradeTimeout(w.Grader.HardCap)
}

// Work implements river.Worker.
func (w *GradeWorker) Work(ctx context.Context, job *river.Job[GradeArgs]) error {
	log := w.Log.With("run_id", job.Args.RunID, "attempt", job.Attempt)
	run, checkID, err := w.ensureCheckRun(ctx, job.Args.RunID)
	if errors.Is(err, store.ErrNotFound) {
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	a := run.Assignment
	inst := w.GitHub.Installation(a.InstallationID)
	superseded := func() error {
		return inst.CompleteCheckRun(ctx, a.Owner, a.Name, checkID, github.Completion{Conclusion: "skipped",
			Title: "Superseded", Summary: "A newer push to this branch is being graded instead of this commit."})
	}
	if run.Status == "superseded" {
		return superseded()
	}
	started, err := w.Store.StartRun(ctx, run.ID)
	if err != nil {
		return err
	}
	if !started {
		return superseded()
	}
	if err := inst.StartCheckRun(ctx, a.Owner, a.Name, checkID, time.Now()); err != nil {
		return w.failed(ctx, job, run, checkID, err)
	}
	ch, err := w.Challenge(a.Challenge)
	if err != nil {
		err = fmt.Errorf("assignment %d: %w", a.ID, err)
		_ = w.failed(ctx, job, run, checkID, err)
		return river.JobCancel(err)
	}
	dir, err := os.MkdirTemp("", "holdfast-src-")
	if err != nil {
		return w.failed(ctx, job, run, checkID, err)
	}
	defer os.RemoveAll(dir)

	var v grading.Verdict
	switch err := inst.DownloadCommit(ctx, a.Owner, a.Name, run.SHA, dir); {
	case errors.Is(err, github.ErrSourceTooLarge):
		v = grading.Verdict{Challenge: ch.Slug, Status: grading.BuildFailed, Message: "Your repository is too large to grade: " + err.Error() + ". Remove build output, dependencies and data files from it."}
	case err != nil:
		return w.failed(ctx, job, run, checkID, err)
	default:
		log.Info("grading", "repo", a.Owner+"/"+a.Name, "sha", run.SHA)
		if v, err = w.Grader.Grade(ctx, ch, dir, nil); err != nil {
			return w.failed(ctx, job, run, checkID, err)
		}
	}
	return w.publish(ctx, run, checkID, v)
}

// publish stores the verdict and reports it, unless a newer push superseded the run meanwhile:
// a stale result never overwrites a newer one.
func (w *GradeWorker) publish(ctx context.Context, run store.Run, checkID int64, v grading.Verdict) error {
	a := run.Assignment
	inst := w.GitHub.Installation(a.InstallationID)
	var current bool
	err := pgx.BeginFunc(ctx, w.Store.Pool, func(tx pgx.Tx) (err error) {
		current, err = store.CompleteRun(ctx, tx, run.ID, v)
		return err
	})
	if err != nil {
		return fmt.Errorf("store verdict: %w", err)
	}
	if !current {
		return inst.CompleteCheckRun(ctx, a.Owner, a.Name, checkID, github.Completion{Conclusion: "cancelled",
			Title: "Superseded", Summary: "A newer push to this branch arrived while this commit was graded; its result is reported there."})
	}
	learner := grading.ForView(v, grading.LearnerView)
	body := grading.Markdown(learner)
	var anns []github.Annotation
	for _, an := range learner.Annotations {
		anns = append(anns, github.Annotation{Path: an.Path, StartLine: an.Line, Column: an.Column, Message: an.Message, Title: "Holdfast"})
	}
	if err := inst.CompleteCheckRun(ctx, a.Owner, a.Name, checkID, github.Completion{Conclusion: Conclusion(v.Status),
		Title: grading.Title(v), Summary: body, Annotations: anns, Rerun: true}); err != nil {
		return err
	}
	prs, err := w.Store.OpenPullRequests(ctx, a.ID, run.Branch)
	if err != nil {
		return err
	}
	for _, pr := range prs {
		if err := w.comment(ctx, run, pr, body); err != nil {
			return err
		}
	}
	return nil
}

// comment writes the run's report into the pull request's sticky comment, unless the comment
// already shows a newer run.
func (w *GradeWorker) comment(ctx context.Context, run store.Run, pr int, body string) error {
	a := run.Assignment
	return pgx.BeginFunc(ctx, w.Store.Pool, func(tx pgx.Tx) error {
		known, shown, err := store.LockComment(ctx, tx, a.ID, pr, a.Challenge)
		if err != nil || shown > run.ID {
			return err
		}
		id, err := w.GitHub.Installation(a.InstallationID).UpsertStickyComment(ctx, a.Owner, a.Name, pr, github.Marker(a.Challenge),
			fmt.Sprintf("**Holdfast** · `%s` · commit %s\n\n%s", a.Challenge, short(run.SHA), body), known)
		if err != nil {
			return err
		}
		return store.SaveComment(ctx, tx, a.ID, pr, a.Challenge, id, run.ID)
	})
}

// failed handles Holdfast's own failure: River retries the job; on the last attempt the check run
// completes as neutral with a plain message, so it never stays in progress.
func (w *GradeWorker) failed(ctx context.Context, job *river.Job[GradeArgs], run store.Run, checkID int64, cause error) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		// The runner is shutting down: hand the job back without spending an attempt.
		w.Log.Info("handing the grading back", "run_id", run.ID)
		return river.JobSnooze(time.Second)
	}
	w.Log.Error("grading failed", "run_id", run.ID, "attempt", job.Attempt, "max_attempts", job.MaxAttempts, "err", cause)
	if job.Attempt < job.MaxAttempts {
		return cause
	}
	a := run.Assignment
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	v := grading.Verdict{Challenge: a.Challenge, Status: grading.GraderError}
	_ = pgx.BeginFunc(rctx, w.Store.Pool, func(tx pgx.Tx) error { _, err := store.CompleteRun(rctx, tx, run.ID, v); return err })
	if err := w.GitHub.Installation(a.InstallationID).CompleteCheckRun(rctx, a.Owner, a.Name, checkID, github.Completion{
		Conclusion: "neutral", Title: "Grader error", Summary: grading.Markdown(v), Rerun: true}); err != nil {
		w.Log.Error("could not report the grader error", "run_id", run.ID, "err", err)
	}
	return cause
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
