// Package queue holds Holdfast's River jobs: reporting a push as a queued check run at once, and
// grading it when a runner is free. A learner's failure completes a job; Holdfast's own failure
// returns an error so River retries it, and the last failed attempt still completes the check
// run, as neutral, so that it never stays "in progress".
package queue

import (
	"time"

	"github.com/riverqueue/river"

	"github.com/holdfast-ci/holdfast/grading"
)

// Queues.
const (
	QueueGrade  = "grade"  // long jobs, as many at once as the runner has sandboxes
	QueueGitHub = "github" // short GitHub calls, answered quickly whatever the grading backlog
)

// GradeArgs asks for one run to be graded.
type GradeArgs struct {
	RunID int64 `json:"run_id"`
}

// Kind implements river.JobArgs.
func (GradeArgs) Kind() string { return "grade" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (GradeArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueGrade, MaxAttempts: 3}
}

// ReportQueuedArgs asks for a run's check run to be created as queued.
type ReportQueuedArgs struct {
	RunID int64 `json:"run_id"`
}

// Kind implements river.JobArgs.
func (ReportQueuedArgs) Kind() string { return "report_queued" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (ReportQueuedArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueGitHub, MaxAttempts: 10}
}

// GradeTimeout is a grading job's timeout for a grader hard cap: the cap plus time to download
// the source and report. A sandbox older than this belongs to no live grading.
func GradeTimeout(hardCap time.Duration) time.Duration {
	if hardCap == 0 {
		hardCap = grading.DefaultHardCap
	}
	return hardCap + 45*time.Second
}
