package jobs

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/gradingtest"
)

// downEngine is a Docker engine that does not answer.
func downEngine() *gradingtest.Engine {
	return &gradingtest.Engine{Down: errors.New("Cannot connect to the Docker daemon")}
}

// TestEngineDownSpendsNoAttempt: a runner whose engine does not answer hands the grading back
// (snoozed, no attempt spent, the run not started) instead of failing it.
func TestEngineDownSpendsNoAttempt(t *testing.T) {
	p := newPublisher(t, Options{})
	id := p.push("main", "engine-down", false)
	w := &GradeWorker{Deps: p.deps}
	w.Grader = &grading.Grader{Engine: downEngine()}
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

// TestRateLimitedDownloadSpendsNoAttempt: GitHub rate-limits the tarball for longer than the
// client waits inline; the grading is snoozed until GitHub's time, not failed.
func TestRateLimitedDownloadSpendsNoAttempt(t *testing.T) {
	p := newPublisher(t, Options{})
	id := p.push("main", "limited", false)
	w := &GradeWorker{Deps: p.deps}
	eng := &gradingtest.Engine{} // answers pings
	w.Grader = &grading.Grader{Engine: eng}
	w.Challenge = func(string) (grading.Challenge, error) { return grading.Challenge{Slug: "idempotent-payments"}, nil }
	snoozedByRateLimit(t, p, w, id, "rate-limited download")
	if n := eng.Builds(); n != 0 {
		t.Errorf("the grading went on without its source: %d builds", n)
	}
}

// TestGradeRetries: Holdfast's own failures are retried after 15 s, 1 min and 4 min, four
// attempts in all, so an engine or GitHub hiccup of a few minutes never becomes a grader error.
func TestGradeRetries(t *testing.T) {
	if n := (GradeArgs{}).InsertOpts().MaxAttempts; n != 4 {
		t.Fatalf("max attempts %d", n)
	}
	w := &GradeWorker{}
	for attempt, want := range map[int]time.Duration{1: 15 * time.Second, 2: time.Minute, 3: 4 * time.Minute} {
		got := time.Until(w.NextRetry(&river.Job[GradeArgs]{JobRow: &rivertype.JobRow{Attempt: attempt}}))
		if got < want-time.Second || got > want {
			t.Errorf("after attempt %d: retry in %s; want %s", attempt, got.Round(time.Second), want)
		}
	}
}

// TestTimedOutGradingIsNotAnEngineDown: a grading whose job ran out of time asks the engine
// outside the expired context; an engine that answers means the failure counts (an attempt is
// spent) rather than being snoozed forever as "engine down".
func TestTimedOutGradingIsNotAnEngineDown(t *testing.T) {
	d := &Deps{Grader: &grading.Grader{Engine: &gradingtest.Engine{}}, Log: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if err := d.handBack(ctx, "run_id", 1, context.DeadlineExceeded); err != nil {
		t.Fatalf("handBack after the job's deadline: %v; want nil (the failure counts)", err)
	}
	d.Grader = &grading.Grader{Engine: downEngine()}
	var snooze *river.JobSnoozeError
	if err := d.handBack(context.Background(), "run_id", 1, errors.New("boom")); !errors.As(err, &snooze) {
		t.Fatalf("handBack with the engine down: %v; want a snooze", err)
	}
}
