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
	time.Sleep(500 * time.Millisecond)
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
