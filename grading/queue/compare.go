package queue

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/compare"
	"github.com/holdfast-ci/holdfast/grading/github"
	"github.com/holdfast-ci/holdfast/grading/store"
	"github.com/holdfast-ci/holdfast/scenarios"
)

// Sides of a comparison: the base is graded first (or reused), then its job queues the head's.
// Two jobs, each within one grading's timeout, rather than one job twice as long: River's rescue
// of stuck jobs is one setting for every job, sized for one grading.
const (
	SideBase = "base"
	SideHead = "head"
)

// CompareArgs asks for one side of a refactor's comparison to be graded.
type CompareArgs struct {
	ComparisonID int64  `json:"comparison_id"`
	Side         string `json:"side"`
}

// Kind implements river.JobArgs.
func (CompareArgs) Kind() string { return "compare" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (CompareArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueGrade, MaxAttempts: 3}
}

// ReportCompareQueuedArgs asks for a comparison's check run to be created as queued.
type ReportCompareQueuedArgs struct {
	ComparisonID int64 `json:"comparison_id"`
}

// Kind implements river.JobArgs.
func (ReportCompareQueuedArgs) Kind() string { return "report_compare_queued" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (ReportCompareQueuedArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueGitHub, MaxAttempts: 10}
}

// CommentKey names the sticky comment of refactor comparisons, apart from pushes' comments.
func CommentKey(challenge string) string { return challenge + ":refactor" }

// ReportCompareQueuedWorker creates the queued check run of a new comparison.
type ReportCompareQueuedWorker struct {
	river.WorkerDefaults[ReportCompareQueuedArgs]
	Deps
}

// Work implements river.Worker.
func (w *ReportCompareQueuedWorker) Work(ctx context.Context, job *river.Job[ReportCompareQueuedArgs]) error {
	_, _, err := w.ensureCompareCheckRun(ctx, job.Args.ComparisonID)
	if errors.Is(err, store.ErrNotFound) {
		return river.JobCancel(err)
	}
	return err
}

// ensureCompareCheckRun returns the comparison's check run on the head commit, creating it
// (queued) if it does not exist yet, under the comparison's row lock.
func (d *Deps) ensureCompareCheckRun(ctx context.Context, id int64) (store.Comparison, int64, error) {
	var c store.Comparison
	var checkID int64
	err := pgx.BeginFunc(ctx, d.Store.Pool, func(tx pgx.Tx) error {
		var err error
		if c, err = store.LockComparison(ctx, tx, id); err != nil {
			return err
		}
		if c.CheckRunID != nil {
			checkID = *c.CheckRunID
			return nil
		}
		a := c.Assignment
		// No details page exists for comparisons yet: the check run and the comment carry it all.
		checkID, err = d.GitHub.Installation(a.InstallationID).CreateCheckRun(ctx, a.Owner, a.Name, c.HeadSHA, "", fmt.Sprintf("comparison-%d", c.ID))
		if err != nil {
			return err
		}
		return store.SetComparisonCheckRun(ctx, tx, id, checkID)
	})
	return c, checkID, err
}

// CompareWorker grades one side of a comparison; the head's side judges and reports.
type CompareWorker struct {
	river.WorkerDefaults[CompareArgs]
	Deps
}

// Timeout implements river.Worker: one grading, as GradeWorker.
func (w *CompareWorker) Timeout(*river.Job[CompareArgs]) time.Duration {
	return w.gradeTimeout()
}

// Work implements river.Worker.
func (w *CompareWorker) Work(ctx context.Context, job *river.Job[CompareArgs]) error {
	if job.Args.Side != SideBase && job.Args.Side != SideHead {
		return river.JobCancel(fmt.Errorf("comparison %d: unknown side %q", job.Args.ComparisonID, job.Args.Side))
	}
	c, checkID, err := w.ensureCompareCheckRun(ctx, job.Args.ComparisonID)
	if errors.Is(err, store.ErrNotFound) {
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	a := c.Assignment
	inst := w.GitHub.Installation(a.InstallationID)
	superseded := func() error {
		return inst.CompleteCheckRun(ctx, a.Owner, a.Name, checkID, github.Completion{Conclusion: "skipped",
			Title: "Superseded", Summary: "A newer push to this pull request is being compared instead of this commit."})
	}
	started, err := w.Store.StartComparison(ctx, c.ID)
	if err != nil {
		return err
	}
	if !started {
		now, err := w.Store.GetComparison(ctx, c.ID)
		if err != nil {
			return err
		}
		if now.Status == "superseded" {
			return superseded()
		}
		// Completed by an earlier attempt that failed while reporting: report it again.
		res, err := w.Store.ComparisonResult(ctx, c.ID)
		if err != nil {
			return err
		}
		return w.report(ctx, c, checkID, res)
	}
	ch, err := w.Challenge(a.Challenge)
	if err != nil {
		err = fmt.Errorf("assignment %d: %w", a.ID, err)
		_ = w.compareFailed(ctx, job, c, checkID, err)
		return river.JobCancel(err)
	}
	log := w.Log.With("comparison_id", c.ID, "side", job.Args.Side, "attempt", job.Attempt)

	if job.Args.Side == SideBase {
		if err := inst.StartCheckRun(ctx, a.Owner, a.Name, checkID, time.Now()); err != nil {
			return w.compareFailed(ctx, job, c, checkID, err)
		}
		v, m, ok, err := w.Store.CachedBase(ctx, a.ID, c.BaseSHA)
		if err != nil {
			return w.compareFailed(ctx, job, c, checkID, err)
		}
		if ok && sameTable(v, ch) {
			log.Info("reusing the base's grading", "sha", c.BaseSHA)
		} else {
			if v, m, err = w.gradeSide(ctx, inst, c, c.BaseSHA, ch); err != nil {
				return w.compareFailed(ctx, job, c, checkID, err)
			}
		}
		return pgx.BeginFunc(ctx, w.Store.Pool, func(tx pgx.Tx) error {
			if err := store.SaveBase(ctx, tx, c.ID, v, m); err != nil {
				return err
			}
			rc, err := river.ClientFromContextSafely[pgx.Tx](ctx)
			if err != nil {
				return err
			}
			_, err = rc.InsertTx(ctx, tx, CompareArgs{ComparisonID: c.ID, Side: SideHead}, nil)
			return err
		})
	}

	if c.Base == nil {
		return river.JobCancel(fmt.Errorf("comparison %d: the head was queued before the base was graded", c.ID))
	}
	head, hm, err := w.gradeSide(ctx, inst, c, c.HeadSHA, ch)
	if err != nil {
		return w.compareFailed(ctx, job, c, checkID, err)
	}
	res := compare.Judge(*c.Base, head)
	if c.BaseMetrics != nil && hm != nil {
		res.Quality = &compare.Quality{Base: *c.BaseMetrics, Head: *hm}
	}
	return w.publishComparison(ctx, c, checkID, res)
}

// sameTable says whether a stored verdict was graded with the challenge's current scenarios: a
// base graded before the table changed is graded again.
func sameTable(v grading.Verdict, ch grading.Challenge) bool {
	if len(v.Scenarios) != len(ch.Scenarios) {
		return false
	}
	return slices.EqualFunc(v.Scenarios, ch.Scenarios, func(r grading.ScenarioResult, s scenarios.Scenario) bool {
		return r.Slug == s.Slug && r.Weight == s.Weight
	})
}

// gradeSide downloads one commit, measures its tree and grades it. A repository too large to
// download is the learner's build failure, as in GradeWorker.
func (w *CompareWorker) gradeSide(ctx context.Context, inst *github.Installation, c store.Comparison, sha string, ch grading.Challenge) (grading.Verdict, *compare.Metrics, error) {
	a := c.Assignment
	dir, err := os.MkdirTemp("", "holdfast-src-")
	if err != nil {
		return grading.Verdict{}, nil, err
	}
	defer os.RemoveAll(dir)
	switch err := inst.DownloadCommit(ctx, a.Owner, a.Name, sha, dir); {
	case errors.Is(err, github.ErrSourceTooLarge):
		return grading.Verdict{Challenge: ch.Slug, Status: grading.BuildFailed,
			Message: "The repository at " + short(sha) + " is too large to grade: " + err.Error() + ". Remove build output, dependencies and data files from it."}, nil, nil
	case err != nil:
		return grading.Verdict{}, nil, err
	}
	m, err := compare.Measure(dir)
	if err != nil {
		w.Log.Warn("measure the tree", "sha", sha, "err", err)
	}
	w.Log.Info("grading", "repo", a.Owner+"/"+a.Name, "sha", sha, "comparison_id", c.ID)
	v, err := w.Grader.Grade(ctx, ch, dir, nil)
	if err != nil {
		return v, nil, err
	}
	if m.Files == 0 && m.Skipped == 0 {
		return v, nil, nil
	}
	return v, &m, nil
}

// publishComparison stores the result and reports it on the check run and in the pull request's
// sticky comment, unless a newer push superseded the comparison meanwhile.
func (w *CompareWorker) publishComparison(ctx context.Context, c store.Comparison, checkID int64, res compare.Result) error {
	a := c.Assignment
	inst := w.GitHub.Installation(a.InstallationID)
	var current bool
	err := pgx.BeginFunc(ctx, w.Store.Pool, func(tx pgx.Tx) (err error) {
		current, err = store.CompleteComparison(ctx, tx, c.ID, res)
		return err
	})
	if err != nil {
		return fmt.Errorf("store comparison: %w", err)
	}
	if !current {
		return inst.CompleteCheckRun(ctx, a.Owner, a.Name, checkID, github.Completion{Conclusion: "cancelled",
			Title: "Superseded", Summary: "A newer push to this pull request arrived while this commit was compared; its result is reported there."})
	}
	return w.report(ctx, c, checkID, res)
}

// report completes the check run with a stored result and writes it into the pull request's
// sticky comment, unless the comment already shows a newer comparison. Both are idempotent.
func (w *CompareWorker) report(ctx context.Context, c store.Comparison, checkID int64, res compare.Result) error {
	a := c.Assignment
	inst := w.GitHub.Installation(a.InstallationID)
	learner := compare.ForView(res, grading.LearnerView)
	body := compare.Markdown(learner)
	var anns []github.Annotation
	for _, an := range learner.Head.Annotations {
		anns = append(anns, github.Annotation{Path: an.Path, StartLine: an.Line, Column: an.Column, Message: an.Message, Title: "Holdfast"})
	}
	if err := inst.CompleteCheckRun(ctx, a.Owner, a.Name, checkID, github.Completion{Conclusion: Conclusion(res.Status),
		Title: compare.Title(learner), Summary: body, Annotations: anns, Rerun: true}); err != nil {
		return err
	}
	key := CommentKey(a.Challenge)
	return pgx.BeginFunc(ctx, w.Store.Pool, func(tx pgx.Tx) error {
		known, shown, err := store.LockComment(ctx, tx, a.ID, c.PR, key)
		if err != nil || shown > c.ID {
			return err
		}
		id, err := inst.UpsertStickyComment(ctx, a.Owner, a.Name, c.PR, github.Marker(key),
			fmt.Sprintf("**Holdfast** · `%s` · refactor · base %s → head %s\n\n%s", a.Challenge, short(c.BaseSHA), short(c.HeadSHA), body), known)
		if err != nil {
			return err
		}
		return store.SaveComment(ctx, tx, a.ID, c.PR, key, id, c.ID)
	})
}

// compareFailed handles Holdfast's own failure as GradeWorker.failed does: River retries; the
// last attempt completes the comparison as a grader error and its check run as neutral.
func (w *CompareWorker) compareFailed(ctx context.Context, job *river.Job[CompareArgs], c store.Comparison, checkID int64, cause error) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		w.Log.Info("handing the comparison back", "comparison_id", c.ID)
		return river.JobSnooze(time.Second)
	}
	w.Log.Error("comparison failed", "comparison_id", c.ID, "side", job.Args.Side, "attempt", job.Attempt, "max_attempts", job.MaxAttempts, "err", cause)
	if job.Attempt < job.MaxAttempts {
		return cause
	}
	a := c.Assignment
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	res := compare.Judge(grading.Verdict{Challenge: a.Challenge, Status: grading.GraderError}, grading.Verdict{Challenge: a.Challenge, Status: grading.GraderError})
	_ = pgx.BeginFunc(rctx, w.Store.Pool, func(tx pgx.Tx) error { _, err := store.CompleteComparison(rctx, tx, c.ID, res); return err })
	if err := w.GitHub.Installation(a.InstallationID).CompleteCheckRun(rctx, a.Owner, a.Name, checkID, github.Completion{
		Conclusion: "neutral", Title: compare.Title(res), Summary: compare.Markdown(res), Rerun: true}); err != nil {
		w.Log.Error("could not report the grader error", "comparison_id", c.ID, "err", err)
	}
	return cause
}
