package jobs

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertest"
	"github.com/riverqueue/river/rivertype"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/docker"
	"github.com/holdfast-ci/holdfast/grading/docker/dockertest"
	"github.com/holdfast-ci/holdfast/grading/gradingtest"
)

// TestDiskBelowFloorSpendsNoAttempt: a runner whose engine's disk is below the floor (a real
// Keeper, its floor set above the free space) hands the grading back like an engine that is
// down: snoozed, no attempt spent, the run not started. With the floor lowered, the same job
// gets past the check by itself (here to the download, which GitHub rate-limits).
func TestDiskBelowFloorSpendsNoAttempt(t *testing.T) {
	eng := dockertest.Engine(t)
	p := newPublisher(t, Options{})
	id := p.push("main", "disk-low", false)
	k := dockertest.Keeper(t, eng, docker.ImagePolicy{FloorPercent: 99.99})
	w := &GradeWorker{Deps: p.deps}
	scripted := &gradingtest.Engine{} // answers pings; never gets a build here
	w.Grader = &grading.Grader{Engine: scripted}
	w.Challenge = func(string) (grading.Challenge, error) { return grading.Challenge{Slug: "idempotent-payments"}, nil }
	w.Images = k
	job := func() error {
		return w.Work(context.Background(), &river.Job[GradeArgs]{JobRow: &rivertype.JobRow{Attempt: 1, MaxAttempts: GradeAttempts}, Args: GradeArgs{RunID: id}})
	}
	err := job()
	var snooze *river.JobSnoozeError
	if !errors.As(err, &snooze) || snooze.Duration != EngineRetry {
		t.Fatalf("Work below the floor: %v; want a snooze of %s", err, EngineRetry)
	}
	if reason := k.Room(context.Background()); !errors.Is(reason, docker.ErrDiskLow) || !strings.Contains(reason.Error(), "floor") {
		t.Fatalf("Room: %v; want ErrDiskLow saying why", reason)
	}
	run, err := p.st.GetRun(context.Background(), id)
	if err != nil || run.Status != "queued" || run.Attempt != 0 {
		t.Fatalf("run %+v, %v; want it still queued, no attempt counted", run, err)
	}

	k2, err := docker.NewKeeper(context.Background(), eng, docker.ImagePolicy{FloorBytes: 1 << 20, Repo: k.Policy().Repo}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	w.Images = k2
	snoozedByRateLimit(t, p, w, id, "with room again (past the floor)")
	if n := scripted.Builds(); n != 0 {
		t.Errorf("the grading went on without its source: %d builds", n)
	}
}

// snoozedByRateLimit works w's grading of run id, in a transaction rolled back after, while
// GitHub rate-limits the commit's download for 120 s, and fails the test (naming when) unless
// the job got as far as the download and was snoozed for GitHub's time.
func snoozedByRateLimit(t *testing.T, p *publisher, w *GradeWorker, id int64, when string) {
	t.Helper()
	p.fake.FailNext("repos/download-tarball-archive", 1, http.StatusTooManyRequests, http.Header{"Retry-After": {"120"}})
	tx, err := p.st.Pool.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	res, err := rivertest.NewWorker(t, riverpgxv5.New(p.st.Pool), &river.Config{}, w).
		Work(context.Background(), t, tx, GradeArgs{RunID: id}, &river.InsertOpts{MaxAttempts: GradeAttempts})
	if err != nil {
		t.Fatal(err)
	}
	if res.EventKind != river.EventKindJobSnoozed || time.Until(res.Job.ScheduledAt) < 100*time.Second {
		t.Fatalf("%s: %s, scheduled in %s; want snoozed for GitHub's 120 s", when, res.EventKind, time.Until(res.Job.ScheduledAt).Round(time.Second))
	}
}
