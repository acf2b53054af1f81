package scenarios_test

import (
	"context"
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
