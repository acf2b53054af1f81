package scenarios_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
)

// TestDescribeTookSaysTheTimeOnce: a message with the answer and how long it took names the
// time once, and a request that timed out says what to look for.
func TestDescribeTookSaysTheTimeOnce(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hang" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		http.Error(w, `{"error":"provider down"}`, http.StatusBadGateway)
	}))
	defer srv.Close()
	defer close(release)
	h := scenarios.NewHarness(urlTarget{srv.URL}, nil, "", "")
	ctx := context.Background()

	hung := h.Do(ctx, scenarios.Request{Path: "/hang", Timeout: 300 * time.Millisecond})
	got := hung.DescribeTook()
	if !hung.TimedOut() || strings.Count(got, "ms") != 1 || strings.Contains(got, " after ") || !strings.Contains(got, "without a deadline") {
		t.Errorf("timed out: %q; want the wait said once, and what to look for", got)
	}
	answered := h.Do(ctx, scenarios.Request{Path: "/"})
	if got := answered.DescribeTook(); !strings.HasPrefix(got, `502 {"error":"provider down"} after `) {
		t.Errorf("answered: %q; want the answer and how long it took", got)
	}
}

// TestStatusCounts: a burst's answers read as how many got which status, the same whatever
// order they arrived in, with a timeout told apart from a refused connection.
func TestStatusCounts(t *testing.T) {
	t.Parallel()
	timedOut := scenarios.Response{Err: fmt.Errorf("post: %w", context.DeadlineExceeded), Duration: 5 * time.Second}
	refused := scenarios.Response{Err: errors.New("dial tcp 10.0.0.2:3000: connect: connection refused")}
	for _, c := range []struct {
		name string
		rs   []scenarios.Response
		want string
	}{
		{"none", nil, "none"},
		{"one status", []scenarios.Response{{Status: 200}, {Status: 200}}, "2×200"},
		{"sorted, whatever the order", []scenarios.Response{{Status: 503}, {Status: 200}, {Status: 503}, {Status: 200}, {Status: 200}}, "3×200, 2×503"},
		{"no answers", []scenarios.Response{refused, {Status: 201}, timedOut, timedOut, refused, refused},
			"1×201, 3×no HTTP answer (connection refused), 2×no answer"},
	} {
		if got := scenarios.StatusCounts(c.rs); got != c.want {
			t.Errorf("%s: StatusCounts = %q, want %q", c.name, got, c.want)
		}
	}
}
