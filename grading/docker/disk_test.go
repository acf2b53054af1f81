package docker

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/grading"
)

// TestNearlyFull: below 1 GiB free, or 2 % of a large disk, a step's "no space left on device"
// is the disk's; above, the learner's.
func TestNearlyFull(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		free, total uint64
		want        bool
	}{
		{0, 40 << 30, true},
		{200 << 20, 40 << 30, true},
		{1<<30 - 1, 40 << 30, true},
		{1 << 30, 40 << 30, false},
		{4 << 30, 252 << 30, true}, // 2 % of 252 GiB is 5 GiB
		{6 << 30, 252 << 30, false},
		{63 << 30, 252 << 30, false},
	} {
		if got := (disk{free: tc.free, total: tc.total}).nearlyFull(); got != tc.want {
			t.Errorf("%s free of %s: nearlyFull %v, want %v", bytesText(tc.free), bytesText(tc.total), got, tc.want)
		}
	}
}

// TestDiskWatchKeepsTheLeast: the builder removes a failed step's container (what filled the
// disk) before it reports the failure, so the watch answers the least free disk it saw during
// the build, not the disk as it is afterwards.
func TestDiskWatchKeepsTheLeast(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	n := 0
	e := &Engine{diskFree: func(context.Context) (disk, error) {
		mu.Lock()
		defer mu.Unlock()
		n++
		free := uint64(30 << 30) // room, except for a moment: the step filling the disk
		if n == 2 {
			free = 10 << 20
		}
		return disk{path: "/data", free: free, total: 40 << 30}, nil
	}}
	w := e.watchDisk(context.Background())
	time.Sleep(3 * diskSampleEvery)
	d, err := w.result(context.Background(), e)
	if err != nil || d.free != 10<<20 || !d.nearlyFull() {
		t.Fatalf("watch: %+v, %v; want the 10 MiB measured during the build", d, err)
	}

	e = &Engine{diskFree: func(context.Context) (disk, error) { return disk{}, errors.New("the engine is at tcp://10.0.0.2:2376") }}
	w = e.watchDisk(context.Background())
	if _, err := w.result(context.Background(), e); err == nil || !strings.Contains(err.Error(), "tcp://") {
		t.Fatalf("watch of a disk that cannot be measured: %v; want why", err)
	}
}

// TestBuildStepSayingNoSpace builds, on the real engine, a step that fails printing what a full
// disk prints (as a Go build did when CI's disk filled: "mkdir /tmp/go-build…: no space left on
// device"), and decides it with each measurement of the disk: the machine's own (room), a full
// one, and none.
func TestBuildStepSayingNoSpace(t *testing.T) {
	e := testEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	build := func(run string, measure func(context.Context) (disk, error)) (grading.BuildResult, error) {
		t.Helper()
		dir := writeTree(t, map[string]string{"Dockerfile": "FROM holdfast/redis:7\nRUN " + run + "\n"})
		e.diskFree = measure
		return e.Build(ctx, dir)
	}
	const saysNoSpace = "echo 'mkdir /tmp/go-build4242: no space left on device' >&2; exit 1"
	full := func(context.Context) (disk, error) {
		return disk{path: "/var/lib/docker", free: 100 << 20, total: 40 << 30}, nil
	}

	// This machine's disk, measured for real, has room: the learner's words, the learner's failure.
	d, err := e.measureDisk(ctx)
	if err != nil {
		t.Fatalf("measure this machine's engine disk: %v", err)
	}
	if d.nearlyFull() {
		t.Skipf("this machine's engine disk is nearly full (%s free of %s): the case of room cannot be built here", bytesText(d.free), bytesText(d.total))
	}
	res, err := build(saysNoSpace, nil)
	if err != nil || res.Failure == nil || res.Failure.Kind != grading.BuildStepFailed || res.Failure.DiskUnchecked != "" {
		t.Fatalf("the words on a disk with room (%s free): %+v, %v; want the learner's step_failed", bytesText(d.free), res.Failure, err)
	}
	if !strings.Contains(res.LogTail, "no space left on device") {
		t.Fatalf("the log does not carry the step's words: %q", res.LogTail)
	}

	// The same step on a full disk: Holdfast's out_of_disk, with what was measured.
	res, err = build(saysNoSpace, full)
	var be *grading.BuildError
	if !errors.As(err, &be) || be.Kind != grading.BuildOutOfDisk || be.DiskFree != 100<<20 || be.DiskPath != "/var/lib/docker" || res.Failed() {
		t.Fatalf("the words on a full disk: result %+v, error %v; want Holdfast's out_of_disk error with the measurement", res.Failure, err)
	}
	if !strings.Contains(err.Error(), "100 MiB of 40.0 GiB was free at /var/lib/docker") {
		t.Fatalf("the operator's message does not say what was measured: %v", err)
	}

	// A step that fails without the words stays the learner's, however full the disk.
	res, err = build("echo compile error >&2; exit 1", full)
	if err != nil || res.Failure == nil || res.Failure.Kind != grading.BuildStepFailed {
		t.Fatalf("a failed step without the words on a full disk: %+v, %v; want the learner's step_failed", res.Failure, err)
	}

	// A disk that cannot be measured: the learner's failure, saying the host's disk may be full.
	res, err = build(saysNoSpace, func(context.Context) (disk, error) {
		return disk{}, errors.New("the engine is at tcp://10.0.0.2:2376, not on this machine")
	})
	if err != nil || res.Failure == nil || res.Failure.Kind != grading.BuildStepFailed || !strings.Contains(res.Failure.DiskUnchecked, "tcp://") ||
		!strings.Contains(res.Failure.Error(), "Holdfast could not check the grading host's disk") {
		t.Fatalf("the words on a disk that cannot be measured: %+v, %v; want step_failed saying the disk was not checked", res.Failure, err)
	}
}
