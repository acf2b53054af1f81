package scenarios_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
)

// urlTarget is a Target whose app is an httptest server; nothing else is needed by Do.
type urlTarget struct{ url string }

func (u urlTarget) AppURL() string                                      { return u.url }
func (u urlTarget) AppURLs() []string                                   { return []string{u.url} }
func (urlTarget) Kill(context.Context, scenarios.Service, string) error { return nil }
func (urlTarget) Start(context.Context, scenarios.Service) error        { return nil }
func (urlTarget) Pause(context.Context, scenarios.Service) error        { return nil }
func (urlTarget) Unpause(context.Context, scenarios.Service) error      { return nil }
func (urlTarget) Wait(context.Context, scenarios.Service) (int, error)  { return 0, nil }
func (urlTarget) Logs(context.Context, scenarios.Service, time.Time, int) (string, error) {
	return "", nil
}

func TestConcurrentRequestsOverlap(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	inFlight, peak := 0, 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inFlight++
		peak = max(peak, inFlight)
		mu.Unlock()
		time.Sleep(200 * time.Millisecond)
		mu.Lock()
		inFlight--
		mu.Unlock()
		w.WriteHeader(http.StatusTeapot)
	}))
	defer srv.Close()
	h := scenarios.NewHarness(urlTarget{srv.URL}, nil, "", "")
	start := time.Now()
	rs := h.Concurrent(context.Background(), 8, func(i int) scenarios.Request { return scenarios.Request{Path: "/"} })
	for i, r := range rs {
		if r.Status != http.StatusTeapot {
			t.Fatalf("response %d: %s", i, r.Describe())
		}
	}
	if peak != 8 || time.Since(start) > time.Second {
		t.Fatalf("peak concurrency %d after %s; want all 8 in flight at once", peak, time.Since(start))
	}
}

// replicasTarget runs several apps, one per replica.
type replicasTarget struct {
	urlTarget
	urls []string
}

func (r replicasTarget) AppURL() string    { return r.urls[0] }
func (r replicasTarget) AppURLs() []string { return r.urls }

func TestRequestsSpreadOverReplicas(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	hits := map[string]int{}
	var urls []string
	for _, name := range []string{"one", "two", "three"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			hits[name]++
			mu.Unlock()
		}))
		defer srv.Close()
		urls = append(urls, srv.URL)
	}
	h := scenarios.NewHarness(replicasTarget{urls: urls}, nil, "", "")
	if h.Replicas() != 3 || scenarios.Replica(1) != scenarios.App || scenarios.Replica(3) != "app-3" || !scenarios.IsApp("app-3") {
		t.Fatalf("replicas %d, names %s %s", h.Replicas(), scenarios.Replica(1), scenarios.Replica(3))
	}
	for range 6 {
		h.Do(context.Background(), scenarios.Request{Path: "/"})
	}
	h.Concurrent(context.Background(), 6, func(int) scenarios.Request { return scenarios.Request{Path: "/"} })
	h.Do(context.Background(), scenarios.Request{Path: "/", Replica: 2})
	if hits["one"] != 4 || hits["two"] != 5 || hits["three"] != 4 {
		t.Fatalf("hits %v; want 4/5/4: round-robin, the burst spread by index, one pinned to replica 2", hits)
	}
	if r := h.Do(context.Background(), scenarios.Request{Path: "/", Replica: 4}); r.Err == nil {
		t.Fatal("replica 4 of 3: want an error")
	}
}

func TestDoReportsTransportFailuresAsBehaviour(t *testing.T) {
	t.Parallel()
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer hang.Close()
	r := scenarios.NewHarness(urlTarget{hang.URL}, nil, "", "").Do(context.Background(), scenarios.Request{Path: "/", Timeout: 150 * time.Millisecond})
	if !r.TimedOut() || !strings.Contains(r.Describe(), "no answer within") {
		t.Fatalf("hanging app: got %+v (%s)", r, r.Describe())
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	r = scenarios.NewHarness(urlTarget{closed.URL}, nil, "", "").Do(context.Background(), scenarios.Request{Path: "/"})
	if r.Err == nil || r.TimedOut() || !strings.Contains(r.Describe(), "connection refused") {
		t.Fatalf("stopped app: got %+v (%s)", r, r.Describe())
	}
}

func TestWaitFor(t *testing.T) {
	t.Parallel()
	h := scenarios.NewHarness(urlTarget{}, nil, "", "")
	n := 0
	if !h.WaitFor(context.Background(), time.Second, 10*time.Millisecond, func(context.Context) bool { n++; return n == 3 }) {
		t.Fatal("condition met on the third try: want true")
	}
	start := time.Now()
	if h.WaitFor(context.Background(), 100*time.Millisecond, 10*time.Millisecond, func(context.Context) bool { return false }) || time.Since(start) > 500*time.Millisecond {
		t.Fatalf("never-true condition: want false within about 100ms, took %s", time.Since(start))
	}
}

func TestFailureIsTheLearners(t *testing.T) {
	t.Parallel()
	err := scenarios.Failf("201", "hint", "%d", 500)
	if f, ok := scenarios.AsFailure(err); !ok || f.Actual != "500" || f.Error() != "expected 201, got 500" {
		t.Fatalf("got %#v", f)
	}
	if _, ok := scenarios.AsFailure(context.DeadlineExceeded); ok {
		t.Fatal("an infrastructure error must not read as a learner failure")
	}
}

// TestVerdictOf: a scenario's error reads the same for a grading and for a judge's test, wrapped
// or not: nil passes, a Failure fails, an Inconclusive round is neither, anything else is ours.
func TestVerdictOf(t *testing.T) {
	t.Parallel()
	failure := scenarios.Failf("201", "hint", "%d", 500)
	inconclusive := scenarios.Inconclusivef("the signal came %s late", "2s")
	for _, c := range []struct {
		err  error
		want string
	}{
		{nil, "pass"},
		{failure, "fail"},
		{fmt.Errorf("second burst: %w", failure), "fail"},
		{inconclusive, "inconclusive"},
		{fmt.Errorf("round 2: %w", inconclusive), "inconclusive"},
		{context.DeadlineExceeded, "error"},
		{errors.New("read downstream calls: connection refused"), "error"},
	} {
		if got := scenarios.VerdictOf(c.err).String(); got != c.want {
			t.Errorf("VerdictOf(%v) = %s, want %s", c.err, got, c.want)
		}
	}
	if inc, ok := scenarios.AsInconclusive(fmt.Errorf("wrapped: %w", inconclusive)); !ok || inc.Reason != "the signal came 2s late" {
		t.Errorf("AsInconclusive = %v, %v; want the round's reason", inc, ok)
	}
}
