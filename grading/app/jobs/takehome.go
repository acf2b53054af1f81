package jobs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/app/github"
	"github.com/holdfast-ci/holdfast/grading/app/store"
)

// A take-home's deadline is handled by three jobs, each idempotent over state kept in the
// takehomes table (see migrations/0003_takehomes.sql), so that any process may die anywhere:
//
//	TakeHomeScanArgs   periodic (and once when a client starts): finds every take-home whose
//	                   deadline passed and is not settled — including deadlines that passed
//	                   while nothing ran — and queues one CloseTakeHomeArgs each.
//	CloseTakeHomeArgs  fixes the final commit (store.FreezeTakeHome), sets the candidate's
//	                   permission to read, and queues the final grading with its run, in one
//	                   transaction.
//	FinalGradeArgs     grades the final commit's tarball and stores the verdict. Nothing is
//	                   reported on GitHub: the full report is the reviewers'.

// DefaultDeadlineScan is how often deadlines are looked for when Options.DeadlineScan is 0.
const DefaultDeadlineScan = 30 * time.Second

// TakeHomeScanArgs asks for every due take-home to be closed.
type TakeHomeScanArgs struct{}

// Kind implements river.JobArgs.
func (TakeHomeScanArgs) Kind() string { return "takehome_scan" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (TakeHomeScanArgs) InsertOpts() river.InsertOpts {
	// One pending scan at most: while no client works the queue, they do not pile up.
	return river.InsertOpts{Queue: QueueGitHub, MaxAttempts: 1, UniqueOpts: river.UniqueOpts{ByState: pendingStates}}
}

// CloseTakeHomeArgs asks for one take-home to be closed.
type CloseTakeHomeArgs struct {
	AssignmentID int64 `json:"assignment_id"`
}

// Kind implements river.JobArgs.
func (CloseTakeHomeArgs) Kind() string { return "takehome_close" }

// pendingStates are the job states in which a second copy of a job would be a duplicate.
var pendingStates = []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending,
	rivertype.JobStateRunning, rivertype.JobStateRetryable, rivertype.JobStateScheduled}

// InsertOpts implements river.JobArgsWithInsertOpts: one pending close per take-home.
func (CloseTakeHomeArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueGitHub, MaxAttempts: 10, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: pendingStates}}
}

// FinalGradeArgs asks for a take-home's final run to be graded.
type FinalGradeArgs struct {
	AssignmentID int64 `json:"assignment_id"`
	RunID        int64 `json:"run_id"`
}

// Kind implements river.JobArgs.
func (FinalGradeArgs) Kind() string { return "takehome_final_grade" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (FinalGradeArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueGrade, MaxAttempts: 3, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: pendingStates}}
}

// TakeHomeScanWorker queues the closing of due take-homes.
type TakeHomeScanWorker struct {
	river.WorkerDefaults[TakeHomeScanArgs]
	Deps
}

// Work implements river.Worker.
func (w *TakeHomeScanWorker) Work(ctx context.Context, _ *river.Job[TakeHomeScanArgs]) error {
	ids, err := w.Store.DueTakeHomes(ctx)
	if err != nil || len(ids) == 0 {
		return err
	}
	params := make([]river.InsertManyParams, len(ids))
	for i, id := range ids {
		params[i] = river.InsertManyParams{Args: CloseTakeHomeArgs{AssignmentID: id}}
	}
	if _, err := river.ClientFromContext[pgx.Tx](ctx).InsertMany(ctx, params); err != nil {
		return fmt.Errorf("queue %d take-home closings: %w", len(ids), err)
	}
	w.Log.Info("take-home deadlines passed", "count", len(ids), "assignment_ids", ids)
	return nil
}

// CloseTakeHomeWorker closes one take-home: final commit, push access, final grading.
type CloseTakeHomeWorker struct {
	river.WorkerDefaults[CloseTakeHomeArgs]
	Deps
}

// Work implements river.Worker.
func (w *CloseTakeHomeWorker) Work(ctx context.Context, job *river.Job[CloseTakeHomeArgs]) error {
	id := job.Args.AssignmentID
	th, err := w.Store.FreezeTakeHome(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	log := w.Log.With("assignment_id", id, "repo", th.Owner+"/"+th.Name)
	if th.State == store.TakeHomeOpen {
		return nil // not due (extended meanwhile): a later scan comes back
	}
	if th.AccessRevokedAt == nil {
		// Read access stays: the candidate keeps seeing their work. Permission "pull" also
		// downgrades an invitation not accepted yet.
		err := w.GitHub.Installation(th.InstallationID).AddCollaborator(ctx, th.Owner, th.Name, th.User, "pull")
		switch {
		case err != nil && job.Attempt < job.MaxAttempts:
			return fmt.Errorf("remove %s's push access: %w", th.User, err)
		case err != nil:
			// The final commit is fixed already, so later pushes cannot change the grade:
			// grade it anyway. The reviewer's page shows that access was not removed.
			log.Error("could not remove push access; grading the final commit anyway", "candidate", th.User, "err", err)
		default:
			if err := w.Store.MarkAccessRevoked(ctx, id); err != nil {
				return err
			}
			log.Info("take-home closed: push access removed", "candidate", th.User, "final_sha", th.FinalSHA)
		}
	}
	if th.State != store.TakeHomeClosing {
		return nil
	}
	return pgx.BeginFunc(ctx, w.Store.Pool, func(tx pgx.Tx) error {
		runID, queued, err := store.QueueFinalRun(ctx, tx, id)
		if err != nil || !queued {
			return err
		}
		if _, err := river.ClientFromContext[pgx.Tx](ctx).InsertTx(ctx, tx, FinalGradeArgs{AssignmentID: id, RunID: runID}, nil); err != nil {
			return fmt.Errorf("queue the final grading: %w", err)
		}
		log.Info("final grading queued", "run_id", runID, "final_sha", th.FinalSHA)
		return nil
	})
}

// FinalGradeWorker grades a take-home's final commit.
type FinalGradeWorker struct {
	river.WorkerDefaults[FinalGradeArgs]
	Deps
}

// Timeout implements river.Worker: above the grader's hard cap.
func (w *FinalGradeWorker) Timeout(*river.Job[FinalGradeArgs]) time.Duration {
	return w.gradeTimeout()
}

// Work implements river.Worker.
func (w *FinalGradeWorker) Work(ctx context.Context, job *river.Job[FinalGradeArgs]) error {
	a := job.Args
	th, err := w.Store.TakeHome(ctx, a.AssignmentID)
	if errors.Is(err, store.ErrNotFound) {
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	if th.State == store.TakeHomeDone {
		return nil
	}
	if th.FinalRunID == nil || *th.FinalRunID != a.RunID {
		return river.JobCancel(fmt.Errorf("run %d is not the final run of take-home %d", a.RunID, a.AssignmentID))
	}
	log := w.Log.With("assignment_id", th.ID, "run_id", a.RunID, "attempt", job.Attempt)
	if err := w.canTake(ctx, "run_id", a.RunID); err != nil {
		return err
	}
	if _, err := w.Store.StartRun(ctx, a.RunID); err != nil {
		return err
	}
	v, err := w.grade(ctx, th)
	if err != nil {
		if herr := w.handBack(ctx, "run_id", a.RunID, err); herr != nil {
			return herr
		}
		log.Error("final grading failed", "max_attempts", job.MaxAttempts, "err", err)
		if job.Attempt < job.MaxAttempts {
			return err
		}
		v = grading.Verdict{Challenge: th.Challenge, Status: grading.GraderError, Message: "the final grading failed: " + err.Error()}
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	err = pgx.BeginFunc(sctx, w.Store.Pool, func(tx pgx.Tx) error {
		_, err := store.CompleteFinalRun(sctx, tx, th.ID, a.RunID, v)
		return err
	})
	if err != nil {
		return fmt.Errorf("store the final verdict: %w", err)
	}
	log.Info("take-home graded", "final_sha", th.FinalSHA, "status", v.Status, "score", v.Score)
	return nil
}

func (w *FinalGradeWorker) grade(ctx context.Context, th store.TakeHome) (grading.Verdict, error) {
	if th.FinalSHA == "" {
		return grading.Verdict{Challenge: th.Challenge, Status: grading.BuildFailed, Message: "There was no commit to grade."}, nil
	}
	ch, err := w.Challenge(th.Challenge)
	if err != nil {
		return grading.Verdict{}, fmt.Errorf("take-home %d: %w", th.ID, err)
	}
	dir, err := os.MkdirTemp("", "holdfast-final-")
	if err != nil {
		return grading.Verdict{}, err
	}
	defer os.RemoveAll(dir)
	err = w.GitHub.Installation(th.InstallationID).DownloadCommit(ctx, th.Owner, th.Name, th.FinalSHA, dir)
	if errors.Is(err, github.ErrSourceTooLarge) {
		return grading.Verdict{Challenge: ch.Slug, Status: grading.BuildFailed, Message: "The repository is too large to grade: " + err.Error()}, nil
	}
	if err != nil {
		return grading.Verdict{}, err
	}
	return w.Grader.Grade(ctx, ch, dir, nil)
}
