package scenarios_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/agent"
)

// TestDownstreamHelpers: the harness sets a behaviour under the challenge's prefix and the link's
// fault through the agent, and says what it was doing when the agent fails.
func TestDownstreamHelpers(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []string
	broken := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if broken {
			http.Error(w, "agent down", http.StatusInternalServerError)
			return
		}
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		b, _ := json.Marshal(body)
		got = append(got, r.URL.Path+" "+string(b))
		if r.URL.Path == "/downstream/calls" {
			_, _ = w.Write([]byte(`[{"seq": 4}]`))
		}
	}))
	defer srv.Close()
	h := scenarios.NewHarness(urlTarget{srv.URL}, agent.NewClient(srv.URL, ""), "", "")
	ctx := context.Background()

	if err := h.SetDownstream(ctx, "/work", agent.DownstreamBehaviour{Status: 503, PathPrefix: "/ignored"}); err != nil {
		t.Fatal(err)
	}
	if err := h.DownstreamLink(ctx, false); err != nil {
		t.Fatal(err)
	}
	if err := h.DownstreamLink(ctx, true); err != nil {
		t.Fatal(err)
	}
	calls, err := h.DownstreamCalls(ctx, 3)
	if err != nil || len(calls) != 1 || calls[0].Seq != 4 {
		t.Fatalf("DownstreamCalls = %+v, %v; want the one call the agent listed", calls, err)
	}
	want := []string{
		`/downstream/behaviour {"path_prefix":"/work","status":503}`,
		`/links/downstream {"kind":"down"}`,
		`/links/downstream {"kind":"up"}`,
	}
	mu.Lock()
	if strings.Join(got[:3], "\n") != strings.Join(want, "\n") {
		t.Errorf("the agent got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	broken = true
	mu.Unlock()
	for what, err := range map[string]error{
		"set downstream behaviour: ": h.SetDownstream(ctx, "/work", agent.DownstreamBehaviour{}),
		"downstream link up: ":       h.DownstreamLink(ctx, true),
	} {
		if err == nil || !strings.HasPrefix(err.Error(), what) {
			t.Errorf("with the agent down: %v; want it to start %q", err, what)
		}
	}
	if _, err := h.DownstreamCalls(ctx, 0); err == nil || !strings.HasPrefix(err.Error(), "read downstream calls: ") {
		t.Errorf("with the agent down: %v; want it to say it was reading the downstream's calls", err)
	}
}

// TestSleepUntil: a moment passed returns at once, a later one waits for it, and the end of the
// context ends the wait with its error.
func TestSleepUntil(t *testing.T) {
	t.Parallel()
	start := time.Now()
	if err := scenarios.SleepUntil(context.Background(), start.Add(-time.Second)); err != nil || time.Since(start) > 50*time.Millisecond {
		t.Fatalf("a moment passed: %v after %s; want nil at once", err, time.Since(start))
	}
	if err := scenarios.SleepUntil(context.Background(), start.Add(100*time.Millisecond)); err != nil || time.Since(start) < 100*time.Millisecond {
		t.Fatalf("100ms ahead: %v after %s; want nil after 100ms", err, time.Since(start))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start = time.Now()
	if err := scenarios.SleepUntil(ctx, start.Add(time.Hour)); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("an hour ahead, 50ms left: %v after %s; want the context's error", err, time.Since(start))
	}
}

// TestWithLinkLatency: the link is slowed before f runs and cleared after, also when f failed
// with its context ended; f's error comes first.
func TestWithLinkLatency(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		b, _ := json.Marshal(body)
		mu.Lock()
		got = append(got, r.URL.Path+" "+string(b))
		mu.Unlock()
	}))
	defer srv.Close()
	h := scenarios.NewHarness(urlTarget{srv.URL}, agent.NewClient(srv.URL, ""), "", "")
	ctx, cancel := context.WithCancel(context.Background())
	ran := errors.New("f failed")
	err := h.WithLinkLatency(ctx, "postgres", 15*time.Millisecond, func() error {
		mu.Lock()
		got = append(got, "f")
		mu.Unlock()
		cancel()
		return ran
	})
	if !errors.Is(err, ran) {
		t.Fatalf("WithLinkLatency = %v; want f's error", err)
	}
	want := []string{`/links/postgres {"kind":"latency","latency_ms":15}`, "f", `/links/postgres {"kind":"clear"}`}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the agent got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
