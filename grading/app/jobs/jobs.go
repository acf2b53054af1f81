// Package jobs holds Holdfast's River jobs. Grading and publishing are separate lifecycles: a
// grade job stores what happened (the run started, its verdict) and queues a publish job, which
// drives the check run and the sticky comments on GitHub from that stored state (publish.go). A
// learner's failure completes a grade job; Holdfast's own failure returns an error so River
// retries it, and the last failed attempt stores a grader error, published as neutral, so that a
// check run never stays "in progress". The reconciler and the delivery recovery repair what
// faults left behind.
package jobs

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

// The App's (app serve's) share of the work: GitHub-queue jobs it works at once (publications,
// the reconciler, delivery recovery), and webhook deliveries it stores at once (GitHub sends
// bursts: a classroom pushing). Its pool is store.Conns(AppReporters, AppHandlers). Pushes take
// few of the handlers' connections: they share transactions (store.Intake, 4 at once); the other
// events, and a push trying again alone after its batch failed, take one each.
const (
	AppReporters = 10
	AppHandlers  = 32
)

// GradeArgs asks for one run to be graded.
type GradeArgs struct {
	RunID int64 `json:"run_id"`
}

// Kind implements river.JobArgs.
func (GradeArgs) Kind() string { return "grade" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (GradeArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueGrade, MaxAttempts: GradeAttempts}
}

// ReportQueuedArgs asks for a run's check run to be created as queued. The webhook handler now
// queues PublishArgs instead; this kind stays for jobs queued by an earlier version.
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
