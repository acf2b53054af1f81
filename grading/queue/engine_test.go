package queue

import (
	"context"
	"errors"
	"testing"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/holdfast-ci/holdfast/grading"
)

// downEngine is a Docker engine that does not answer.
type downEngine struct{ grading.Engine }

func (downEngine) Ping(context.Context) error {
	return errors.New("Cannot connect to the Docker daemon")
}

// TestEngineDownSpendsNoAttempt: a runner whose engine does not answer hands the grading back
// (snoozed, no attempt spent, the run not started) instead of failing it.
func TestEngineDownSpendsNoAttempt(t *testing.T) {
	p := newPublisher(t, Options{})
	id := p.push("main", "engine-down", false)
	w := &GradeWorker{Deps: p.deps}
	w.Grader = &grading.Grader{Engine: downEngine{}}
	err := w.Work(context.Background(), &river.Job[GradeArgs]{JobRow: &rivertype.JobRow{Attempt: 1, MaxAttempts: GradeAttempts}, Args: GradeArgs{RunID: id}})
	var snooze *river.JobSnoozeError
	if !errors.As(err, &snooze) || snooze.Duration != EngineRetry {
		t.Fatalf("Work: %v; want a snooze of %s", err, EngineRetry)
	}
	run, err := p.st.GetRun(context.Background(), id)
	if err != nil || run.Status != "queued" || run.Attempt != 0 {
		t.Fatalf("run %+v, %v; want it still queued, no attempt counted", run, err)
	}
}
