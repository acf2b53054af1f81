package jobs

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
	"github.com/holdfast-ci/holdfast/grading/app/github"
	"github.com/holdfast-ci/holdfast/grading/app/store"
	"github.com/holdfast-ci/holdfast/grading/compare"
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

// InsertOpts implements river.JobArgsWithInsertOpts: as many attempts as a run's grading.
func (CompareArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueGrade, MaxAttempts: GradeAttempts}
}

// ReportCompareQueuedArgs asks for a comparison's check run to be created as queued. The webhook
// handler now queues PublishArgs instead; this kind stays for jobs queued by an earlier version.
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

// ReportCompareQueuedWorker publishes a comparison: jobs of this kind still in a queue when
// Holdfast is upgraded are done as a publication.
type ReportCompareQueuedWorker struct {
	river.WorkerDefaults[ReportCompareQueuedArgs]
	Deps
}

// Work implements river.Worker.
func (w *ReportCompareQueuedWorker) Work(ctx context.Context, job *river.Job[ReportCompareQueuedArgs]) error {
	return w.publishOne(ctx, store.SubjectComparison, job.Args.ComparisonID, job.Attempt, job.MaxAttempts)
}

// comparisonSubject is a refactor pull request's comparison as publishing shows it: its check
// run is on the head commit, with comparison-<id> as external_id and no details page (none
// exists for comparisons: the check run and the comment carry it all); its report goes to the
// pull request's refactor comment (CommentKey).
type comparisonSubject struct{ c store.Comparison }

func (s comparisonSubject) state() pubState {
	c := s.c
	return pubState{Kind: store.SubjectComparison, ID: c.ID, Assignment: c.Assignment, Status: c.Status, StartedAt: c.StartedAt,
		SHA: c.HeadSHA, ExternalID: fmt.Sprintf("comparison-%d", c.ID),
		Published: c.Published, CheckRunID: c.CheckRunID, CheckRunRequested: c.CheckRunRequested}
}

func (s comparisonSubject) report(ctx context.Context, st *store.Store) (github.Completion, sticky, error) {
	c, a := s.c, s.c.Assignment
	if c.Status == "superseded" {
		return superseded(c.StartedAt != nil, "this pull request", "compared"), sticky{}, nil
	}
	res, err := st.ComparisonResult(ctx, c.ID)
	if err != nil {
		return github.Completion{}, sticky{}, err
	}
	learner := compare.ForView(res, grading.LearnerView)
	body := compare.Markdown(learner)
	// The check run's title states the verdict, so its summary does not; the comment opens with it.
	return github.Completion{Conclusion: Conclusion(res.Status), Title: compare.Title(learner), Summary: compare.MarkdownBody(learner),
			Annotations: annotations(learner.Head.Annotations), Rerun: true},
		sticky{Key: CommentKey(a.Challenge), PRs: []int{c.PR},
			Body: fmt.Sprintf("**Holdfast** · `%s` · refactor · base %s → head %s\n\n%s", a.Challenge, short(c.BaseSHA), short(c.HeadSHA), body)}, nil
}

// CompareWorker grades one side of a comparison and stores it; the head's side judges. As
// GradeWorker, it never calls GitHub but to download the commits: PublishArgs jobs show the
// comparison, so GitHub's outages cost a grading nothing and a comparison is never graded again
// because publishing failed.
type CompareWorker struct {
	river.WorkerDefaults[CompareArgs]
	Deps
}

// Timeout implements river.Worker: one grading, as GradeWorker.
func (w *CompareWorker) Timeout(*river.Job[CompareArgs]) time.Duration {
	return w.gradeTimeout()
}

// NextRetry implements river.Worker as GradeWorker's: Holdfast's own failures are retried after
// 15 s, 1 min and 4 min, not within seconds.
func (w *CompareWorker) NextRetry(job *river.Job[CompareArgs]) time.Time { return retryAt(job.Attempt) }

// Work implements river.Worker.
func (w *CompareWorker) Work(ctx context.Context, job *river.Job[CompareArgs]) error {
	if job.Args.Side != SideBase && job.Args.Side != SideHead {
		return river.JobCancel(fmt.Errorf("comparison %d: unknown side %q", job.Args.ComparisonID, job.Args.Side))
	}
	c, err := w.Store.GetComparison(ctx, job.Args.ComparisonID)
	if errors.Is(err, store.ErrNotFound) {
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	if c.Status == "queued" || c.Status == "in_progress" {
		if err := w.canTake(ctx, "comparison_id", c.ID); err != nil {
			return err
		}
	}
	var started bool
	err = pgx.BeginFunc(ctx, w.Store.Pool, func(tx pgx.Tx) error {
		if started, err = store.StartComparisonTx(ctx, tx, c.ID); err != nil {
			return err
		}
		// The base's start shows the check run in progress; on a comparison already done (a
		// job of an earlier version), this publication shows its end.
		return queueComparisonPublish(ctx, tx, c.ID)
	})
	if err != nil {
		return err
	}
	if !started {
		// Superseded, or completed by an earlier attempt: the publication queued above shows it.
		return nil
	}
	a := c.Assignment
	ch, err := w.Challenge(a.Challenge)
	if err != nil {
		err = fmt.Errorf("assignment %d: %w", a.ID, err)
		_ = w.completeComparison(ctx, c, graderError(a.Challenge, ""))
		return river.JobCancel(err)
	}
	log := w.Log.With("comparison_id", c.ID, "side", job.Args.Side, "attempt", job.Attempt)
	inst := w.GitHub.Installation(a.InstallationID)

	if job.Args.Side == SideBase {
		v, m, ok, err := w.Store.CachedBase(ctx, a.ID, c.BaseSHA)
		if err != nil {
			return w.compareFailed(ctx, job, c, err)
		}
		if ok && sameTable(v, ch) {
			log.Info("reusing the base's grading", "sha", c.BaseSHA)
		} else {
			if v, m, err = w.gradeSide(ctx, inst, c, c.BaseSHA, ch); err != nil {
				return w.compareFailed(ctx, job, c, err)
			}
			if v.Status == grading.GraderError && job.Attempt < job.MaxAttempts {
				return w.compareFailed(ctx, job, c, fmt.Errorf("grader error on the base: %s", v.Message))
			}
		}
		// Kept after the grading's context ended too (a hard cap, a shutdown), as a verdict is.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		return pgx.BeginFunc(sctx, w.Store.Pool, func(tx pgx.Tx) error {
			if err := store.SaveBase(sctx, tx, c.ID, v, m); err != nil {
				return err
			}
			if v.Status == grading.GraderError {
				// Its last attempt: whatever the head does, the comparison is a grader error.
				if _, err := store.CompleteComparison(sctx, tx, c.ID, graderError(a.Challenge, v.Message)); err != nil {
					return err
				}
				return queueComparisonPublish(sctx, tx, c.ID)
			}
			rc, err := river.ClientFromContextSafely[pgx.Tx](sctx)
			if err != nil {
				return err
			}
			_, err = rc.InsertTx(sctx, tx, CompareArgs{ComparisonID: c.ID, Side: SideHead}, nil)
			return err
		})
	}

	if c.Base == nil {
		return river.JobCancel(fmt.Errorf("comparison %d: the head was queued before the base was graded", c.ID))
	}
	head, hm, err := w.gradeSide(ctx, inst, c, c.HeadSHA, ch)
	if err != nil {
		return w.compareFailed(ctx, job, c, err)
	}
	if head.Status == grading.GraderError && job.Attempt < job.MaxAttempts {
		return w.compareFailed(ctx, job, c, fmt.Errorf("grader error on the head: %s", head.Message))
	}
	res := compare.Judge(*c.Base, head)
	if c.BaseMetrics != nil && hm != nil {
		res.Quality = &compare.Quality{Base: *c.BaseMetrics, Head: *hm}
	}
	return w.completeComparison(ctx, c, res)
}

// queueComparisonPublish queues a publication of comparison id in tx.
func queueComparisonPublish(ctx context.Context, tx pgx.Tx, id int64) error {
	rc, err := river.ClientFromContextSafely[pgx.Tx](ctx)
	if err != nil {
		return err
	}
	if _, err := rc.InsertTx(ctx, tx, PublishArgs{ComparisonID: id}, nil); err != nil {
		return fmt.Errorf("queue the publication of comparison %d: %w", id, err)
	}
	return nil
}

// graderError is the result of a comparison Holdfast could not finish.
func graderError(challenge, message string) compare.Result {
	v := grading.Verdict{Challenge: challenge, Status: grading.GraderError, Message: message}
	return compare.Judge(v, v)
}

// completeComparison stores the result (unless a newer push superseded the comparison meanwhile:
// its publication shows it cancelled) and queues its publication, in one transaction. It runs
// after the grading's context ended too (a hard cap, a shutdown): the result is kept.
func (w *CompareWorker) completeComparison(ctx context.Context, c store.Comparison, res compare.Result) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	err := pgx.BeginFunc(sctx, w.Store.Pool, func(tx pgx.Tx) error {
		if _, err := store.CompleteComparison(sctx, tx, c.ID, res); err != nil {
			return err
		}
		return queueComparisonPublish(sctx, tx, c.ID)
	})
	if err != nil {
		return fmt.Errorf("store comparison %d's result: %w", c.ID, err)
	}
	return nil
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

// compareFailed handles Holdfast's own failure as GradeWorker.failed does: River retries; the
// last attempt stores a grader error, published as neutral with a Re-run button, so the check
// run never stays in progress.
func (w *CompareWorker) compareFailed(ctx context.Context, job *river.Job[CompareArgs], c store.Comparison, cause error) error {
	if err := w.handBack(ctx, "comparison_id", c.ID, cause); err != nil {
		return err
	}
	w.Log.Error("comparison failed", "comparison_id", c.ID, "side", job.Args.Side, "attempt", job.Attempt, "max_attempts", job.MaxAttempts, "err", cause)
	if job.Attempt < job.MaxAttempts {
		return cause
	}
	if err := w.completeComparison(ctx, c, graderError(c.Assignment.Challenge, "")); err != nil {
		// The reconciler completes comparisons no job will finish.
		w.Log.Error("could not store the grader error", "comparison_id", c.ID, "err", err)
	}
	return cause
}
