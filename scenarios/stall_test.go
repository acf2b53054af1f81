package scenarios_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
)

// WatchStall sees an app that stood still: one /healthz held 300 ms among quick ones, and a
// /healthz that never answers, counted for as long as the watch waited for it.
func TestWatchStallSeesAStalledApp(t *testing.T) {
	t.Parallel()
	var pings atomic.Int64
	held := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if pings.Add(1) == 3 {
			time.Sleep(300 * time.Millisecond)
		}
	}))
	defer held.Close()
	stop := scenarios.NewHarness(urlTarget{held.URL}, nil, "", "").WatchStall(context.Background())
	// Until the ping after the held one, not a fixed time: on a loaded machine 500 ms saw only
	// three pings (the probe got 3-7 % of a CPU), twice in helpers' runs.
	for wait := time.Now().Add(10 * time.Second); pings.Load() < 4 && time.Now().Before(wait); {
		time.Sleep(10 * time.Millisecond)
	}
	s := stop()
	if s.App < 300*time.Millisecond || s.Max() != max(s.App, s.Harness) || pings.Load() < 4 {
		t.Errorf("one /healthz held 300 ms among %d: %s (max %s); want the app's at least 300ms and the max of the app's and the harness's", pings.Load(), s, s.Max())
	}

	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer hung.Close()
	stop = scenarios.NewHarness(urlTarget{hung.URL}, nil, "", "").WatchStall(context.Background())
	time.Sleep(400 * time.Millisecond)
	if s := stop(); s.App < 400*time.Millisecond {
		t.Errorf("a /healthz unanswered for 400 ms: %s; want the app's at least 400ms", s)
	}
}

// Explains: a time over its bound by no more than the longest pause; Slowed: only on a machine
// that gave less than half a CPU, and only by as much as it withheld.
func TestStallExplains(t *testing.T) {
	ms := time.Millisecond
	s := scenarios.Stall{App: 60 * ms, Agent: 20 * ms, Harness: 5 * ms, CPU: 0.9}
	for _, c := range []struct {
		got, want time.Duration
		explains  bool
	}{
		{800 * ms, 800 * ms, true},
		{860 * ms, 800 * ms, true},
		{861 * ms, 800 * ms, false},
		{1600 * ms, 800 * ms, false}, // a CPU to spare: the stretch is the app's
	} {
		if got := s.Explains(c.got, c.want); got != c.explains {
			t.Errorf("%s: Explains(%s, %s) = %v; want %v", s, c.got, c.want, got, c.explains)
		}
	}
	for _, c := range []struct {
		cpu, factor float64
		slowed      bool
	}{
		{0.9, 1.05, false}, // a CPU to spare
		{0.6, 1.5, false},  // short of CPU, not starved
		{0.4, 2.5, true},
		{0.4, 2.6, false},
		{0, 1.5, false}, // not measured
	} {
		if got := (scenarios.Stall{CPU: c.cpu}).Slowed(c.factor); got != c.slowed {
			t.Errorf("CPU %.2f: Slowed(%.2f) = %v; want %v", c.cpu, c.factor, got, c.slowed)
		}
	}
}
