package load

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// stallingServer answers at once, except that from stallAfter after its first request the whole
// service freezes for stall, once (a GC pause, a docker pause, a lock held too long): every
// request that arrives meanwhile waits until the freeze ends.
func stallingServer(t *testing.T, stallAfter, stall time.Duration) *httptest.Server {
	t.Helper()
	var first, once sync.Once
	var t0 time.Time
	var until atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first.Do(func() { t0 = time.Now() })
		if time.Since(t0) >= stallAfter {
			once.Do(func() { until.Store(time.Now().Add(stall).UnixNano()) })
		}
		if wait := time.Until(time.Unix(0, until.Load())); wait > 0 {
			time.Sleep(wait)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// closedLoop is how a closed-loop tool measures: one connection, each request sent when the one
// before was answered (and not before its slot every interval), latency from the actual send.
func closedLoop(t *testing.T, target string, interval, duration time.Duration) *Histogram {
	t.Helper()
	var h Histogram
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	start := time.Now()
	for next := start; time.Since(start) < duration; {
		time.Sleep(time.Until(next))
		sent := time.Now()
		resp, err := client.Get(target)
		if err != nil {
			t.Fatalf("closed loop: %v", err)
		}
		resp.Body.Close()
		h.Record(time.Since(sent))
		next = next.Add(interval)
	}
	return &h
}

// A one-second stall of the service shows in the open-loop driver's p90, p99 and max: the
// requests due during the stall were sent on schedule and each waited. A closed-loop client at
// the same pace sees the stall as a single slow sample, so its p99 stays fast and only its max
// shows it (coordinated omission).
func TestStallShowsInOpenLoopPercentiles(t *testing.T) {
	t.Parallel()
	const stall = time.Second
	open := stallingServer(t, 300*time.Millisecond, stall)
	rep, err := Run(t.Context(), Config{Target: open.URL, Rate: 200, Duration: 2 * time.Second, Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	closed := closedLoop(t, stallingServer(t, 300*time.Millisecond, stall).URL, 5*time.Millisecond, 2*time.Second).Summary()
	t.Logf("open loop:   sent %d, p50 %v, p90 %v, p99 %v, max %v", rep.Sent, rep.Latency.P50, rep.Latency.P90, rep.Latency.P99, rep.Latency.Max)
	t.Logf("closed loop: sent %d, p50 %v, p90 %v, p99 %v, max %v", closed.Count, closed.P50, closed.P90, closed.P99, closed.Max)

	if rep.Sent != 400 || rep.OK != 400 {
		t.Fatalf("open loop sent %d, %d answered 2xx; want all 400 of 200/s × 2s", rep.Sent, rep.OK)
	}
	// ~200 of the 400 requests fall in the stall, their waits spread evenly over 0…1 s: the
	// slowest 10 % waited at least ~0.8 s, the slowest 1 % at least ~0.98 s.
	if rep.Latency.P99 < 900*time.Millisecond || rep.Latency.P90 < 600*time.Millisecond || rep.Latency.Max < 950*time.Millisecond {
		t.Errorf("open loop p90 %v, p99 %v, max %v: want the 1s stall to show (p90 ≥ 600ms, p99 ≥ 900ms, max ≥ 950ms)",
			rep.Latency.P90, rep.Latency.P99, rep.Latency.Max)
	}
	if closed.Max < 950*time.Millisecond {
		t.Errorf("closed loop max %v: the stall should show there too, as one sample", closed.Max)
	}
	if closed.P99 > stall/2 {
		t.Errorf("closed loop p99 %v: expected it to hide the stall (under %v); the comparison proves nothing", closed.P99, stall/2)
	}
}

// capacityServer serves at most slots requests at once, each taking service; the rest queue.
// Its capacity is slots/service requests per second.
func capacityServer(t *testing.T, slots int, service time.Duration) *httptest.Server {
	t.Helper()
	sem := make(chan struct{}, slots)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case sem <- struct{}{}:
		case <-r.Context().Done():
			return
		}
		time.Sleep(service)
		<-sem
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// The search finds the knee of a service with a hard capacity (16 slots × 100 ms = 160
// requests/s) within 25 % below and 10 % above it: below the capacity constant arrivals never
// queue (p99 ≈ the service time), above it the queue grows by (rate − 160) every second, so a
// 1.5 s step ends with requests waiting (rate − 160) × 1.5 / 160 s extra. The knee is a rate
// the search tried: 90, 135, 202, then 169 and 152 or 186. 169 waits ~85 ms extra (p99 ≈ 185 ms)
// and holds; 186 waits ~240 ms (p99 ≈ 340 ms) and breaks the 300 ms bound, as 202 (~400 ms)
// does. Steps over the capacity are served at about the capacity. The rates are low and the
// service time long so that a busy machine's scheduling delays (up to ~80 ms at a load average
// of 30 on 2 cores, measured) stay well under the bound.
func TestSearchFindsTheKneeOfAHardCapacity(t *testing.T) {
	if testing.Short() {
		t.Skip("steps a server through 5 rates for ~10 s")
	}
	t.Parallel()
	const capacity = 160.0
	srv := capacityServer(t, 16, 100*time.Millisecond)
	res, err := Search(t.Context(), SearchConfig{
		Load: Config{Target: srv.URL, Duration: 1500 * time.Millisecond, Timeout: 2 * time.Second},
		SLO:  SLO{P99: 300 * time.Millisecond, ErrorBudget: 0.01}, Retries: 2,
		Start: 90, Factor: 1.5, MaxRate: 1000, Refine: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", res.Table())
	if res.Knee < 0.75*capacity || res.Knee > 1.10*capacity {
		t.Errorf("knee %.0f requests/s, want within [%.0f, %.0f] of the capacity %.0f", res.Knee, 0.75*capacity, 1.10*capacity, capacity)
	}
	if res.BrokeAt == 0 || res.BrokeAt > 1.3*capacity {
		t.Errorf("broke at %.0f requests/s, want a break at or below %.0f", res.BrokeAt, 1.3*capacity)
	}
	for _, s := range res.Steps {
		if s.Rate >= 1.2*capacity && (s.Achieved < 0.8*capacity || s.Achieved > 1.05*capacity) {
			t.Errorf("at %.0f offered the service answered %.0f/s; it can serve %.0f/s at most, and did so", s.Rate, s.Achieved, capacity)
		}
		if s.Rate <= 0.6*capacity && !s.Held && !s.Rerun {
			t.Errorf("at %.0f requests/s (under 60 %% of the capacity) the SLO broke: %s", s.Rate, s.Why)
		}
	}
	if len(res.Steps) < 5 || res.Steps[len(res.Steps)-1].Phase != "refine" {
		t.Errorf("%d steps, the last %q: want the step-up (90, 135, 202) and 2 refinements", len(res.Steps), res.Steps[len(res.Steps)-1].Phase)
	}
}

// hangingServer never answers until the test ends.
func hangingServer(t *testing.T) *httptest.Server {
	t.Helper()
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-done:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(done); srv.Close() })
	return srv
}

// The driver stops at each of its bounds: the request count, the duration plus the timeout even
// when nothing answers, the in-flight cap (the rest are dropped, not delayed), and its context.
func TestRunStopsAtItsBounds(t *testing.T) {
	t.Parallel()
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(ok.Close)
	hang := hangingServer(t)

	t.Run("count", func(t *testing.T) {
		t.Parallel()
		began := time.Now()
		rep, err := Run(t.Context(), Config{Target: ok.URL, Rate: 500, Duration: 10 * time.Second, MaxRequests: 50})
		if err != nil {
			t.Fatal(err)
		}
		if took := time.Since(began); rep.Sent != 50 || rep.OK != 50 || rep.Stopped != "max requests" || took > 2*time.Second {
			t.Fatalf("sent %d, ok %d, stopped %q, took %v; want 50 sent and answered in about 0.1 s, stopped by max requests", rep.Sent, rep.OK, rep.Stopped, took)
		}
	})
	t.Run("time and timeout", func(t *testing.T) {
		t.Parallel()
		began := time.Now()
		rep, err := Run(t.Context(), Config{Target: hang.URL, Rate: 100, Duration: 300 * time.Millisecond, Timeout: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		took := time.Since(began)
		if rep.Sent != 30 || rep.Errors.Timeout != 30 || rep.OK != 0 || took > 3*time.Second {
			t.Fatalf("sent %d, timeouts %d, ok %d, took %v; want 30 sent, all timed out, back within 0.3 s + 0.2 s (+ slack)", rep.Sent, rep.Errors.Timeout, rep.OK, took)
		}
		if rep.Latency.P50 < 200*time.Millisecond {
			t.Fatalf("a timed-out request's latency is its wait, ≥ the 200ms timeout; p50 %v", rep.Latency.P50)
		}
	})
	t.Run("in flight", func(t *testing.T) {
		t.Parallel()
		rep, err := Run(t.Context(), Config{Target: hang.URL, Rate: 100, Duration: 300 * time.Millisecond, Timeout: time.Second, MaxInFlight: 5})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Sent != 5 || rep.Errors.Dropped != 25 || rep.Errors.Timeout != 5 || rep.PeakInFlight != 5 || rep.ErrorRate() != 1 {
			t.Fatalf("sent %d, dropped %d, timeouts %d, peak in flight %d, error rate %v; want 5 sent, 25 dropped, 5 timed out, peak 5, all failed",
				rep.Sent, rep.Errors.Dropped, rep.Errors.Timeout, rep.PeakInFlight, rep.ErrorRate())
		}
	})
	t.Run("context", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		began := time.Now()
		rep, err := Run(ctx, Config{Target: ok.URL, Rate: 100, Duration: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if took := time.Since(began); rep.Stopped != context.DeadlineExceeded.Error() || rep.Sent < 1 || rep.Sent > 40 || took > 3*time.Second {
			t.Fatalf("stopped %q after %d sent, took %v; want stopped by the context after ~20", rep.Stopped, rep.Sent, took)
		}
	})
}

// Failures are counted by kind: an answer that is not 2xx, no answer in time, a connection
// closed without an answer, and a request Build made that cannot be sent.
func TestErrorsAreCountedByKind(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/fail":
			w.WriteHeader(http.StatusServiceUnavailable)
		case "/hang":
			<-r.Context().Done()
		case "/close":
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		}
	}))
	t.Cleanup(srv.Close)
	paths := []string{"/ok", "/fail", "/hang", "/close", "/invalid"}
	rep, err := Run(t.Context(), Config{Target: srv.URL, Rate: 200, Duration: 500 * time.Millisecond, Timeout: time.Second,
		Build: func(i int) Request {
			if paths[i%5] == "/invalid" {
				return Request{Method: "NOT A METHOD"}
			}
			return Request{Path: paths[i%5]}
		}})
	if err != nil {
		t.Fatal(err)
	}
	want := Errors{Status: 20, Timeout: 20, Connection: 20, Invalid: 20}
	if rep.Sent != 100 || rep.OK != 20 || rep.Errors != want || rep.Statuses[http.StatusServiceUnavailable] != 20 {
		t.Fatalf("sent %d, ok %d, errors %+v, statuses %v; want 100 sent, 20 ok, %+v, 20 × 503", rep.Sent, rep.OK, rep.Errors, rep.Statuses, want)
	}
	if rep.Errors.String() != "20 status, 20 timeout, 20 connection, 20 invalid" {
		t.Fatalf("errors read %q", rep.Errors.String())
	}
}

// The driver reaches loopback and private addresses only, and says why it refuses a target.
func TestTargetsOffTheMachineAreRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		target string
		want   string // "" = allowed; else a part of the error
	}{
		{"http://127.0.0.1:8080", ""},
		{"http://localhost:3000/", ""},
		{"http://[::1]:80", ""},
		{"http://172.20.0.5:3000", ""}, // a sandbox network
		{"http://10.1.2.3", ""},
		{"https://192.168.1.9:443", ""},
		{"http://8.8.8.8", "neither loopback nor a private address"},
		{"http://[2001:db8::1]:80", "neither loopback nor a private address"},
		{"http://example.com", "not a host name"},
		{"ftp://127.0.0.1", "scheme must be http or https"},
	} {
		u, err := url.Parse(tc.target)
		if err != nil {
			t.Fatal(err)
		}
		err = AllowedTarget(u)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("AllowedTarget(%s) = %v, want %q", tc.target, err, tc.want)
		}
	}
	// A run's client's dialer enforces the rule too, whatever a name resolves to.
	_, err := newClient(1, time.Second).Transport.(*http.Transport).DialContext(t.Context(), "tcp", "8.8.8.8:53")
	if err == nil || !strings.Contains(err.Error(), "refusing to dial") {
		t.Fatalf("dialling 8.8.8.8:53 = %v, want a refusal", err)
	}
}

// Bad configs fail before anything is sent, with a sentence that says what to change.
func TestBadConfigsAreRefused(t *testing.T) {
	t.Parallel()
	good := Config{Target: "http://127.0.0.1:1", Rate: 10, Duration: time.Second}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"rate 0", func(c *Config) { c.Rate = 0 }, "rate 0 requests/s is out of range"},
		{"rate too high", func(c *Config) { c.Rate = 2e6 }, "out of range"},
		{"no duration", func(c *Config) { c.Duration = 0 }, "duration 0s is out of range"},
		{"no request due", func(c *Config) { c.Rate, c.Duration = 1, 500*time.Millisecond }, "schedules no request"},
		{"negative timeout", func(c *Config) { c.Timeout = -1 }, "cannot be negative"},
		{"bad method", func(c *Config) { c.Request.Method = "BAD METHOD" }, "cannot be sent"},
		{"not a URL", func(c *Config) { c.Target = "http://[::1" }, "is not a URL"},
	} {
		c := good
		tc.edit(&c)
		if _, err := Run(t.Context(), c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.want)
		}
	}
	for _, tc := range []struct {
		name string
		edit func(*SearchConfig)
		want string
	}{
		{"no p99 bound", func(c *SearchConfig) { c.SLO.P99 = 0 }, "p99 bound"},
		{"budget 1", func(c *SearchConfig) { c.SLO.ErrorBudget = 1 }, "error budget"},
		{"factor 1", func(c *SearchConfig) { c.Factor = 1 }, "step factor"},
		{"max under start", func(c *SearchConfig) { c.MaxRate = 5 }, "maximum rate"},
		{"refine 9", func(c *SearchConfig) { c.Refine = 9 }, "refine 9"},
		{"retries 4", func(c *SearchConfig) { c.Retries = 4 }, "retries 4"},
		{"bad target", func(c *SearchConfig) { c.Load.Target = "http://8.8.8.8" }, "neither loopback"},
	} {
		c := SearchConfig{Load: good, SLO: SLO{P99: time.Second}, Start: 10}
		tc.edit(&c)
		if _, err := Search(t.Context(), c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.want)
		}
	}
}

// Latency counts from each request's place in the schedule, not from when it was sent: when the
// driver itself falls behind (here Build stalls 500 ms once, as a starved process would), the
// requests it sends late carry that wait, and the report says the driver was late.
func TestLatencyCountsFromTheIntendedStart(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(srv.Close)
	rep, err := Run(t.Context(), Config{Target: srv.URL, Rate: 100, Duration: time.Second,
		Build: func(i int) Request {
			if i == 20 {
				time.Sleep(500 * time.Millisecond)
			}
			return Request{}
		}})
	if err != nil {
		t.Fatal(err)
	}
	// Requests 20…69 were due during the 500 ms and went out at its end: 50 of 100, waiting
	// 500 ms down to 0.
	if rep.Sent != 100 || rep.Lag.P99 < 450*time.Millisecond || rep.Latency.P90 < 300*time.Millisecond || rep.Latency.P99 < 450*time.Millisecond {
		t.Fatalf("sent %d, lag p99 %v, latency p90 %v, p99 %v: want 100 sent and the driver's 500ms hiccup in the lag and the latency (p90 ≥ 300ms, p99 ≥ 450ms)",
			rep.Sent, rep.Lag.P99, rep.Latency.P90, rep.Latency.P99)
	}
	if st := judge("step-up", rep, SLO{P99: time.Second}); !st.DriverLate {
		t.Fatalf("step not marked as driver late: %s", st.Why)
	}
}

// A step that breaks while the driver itself was late (here Build stalls 500 ms once, as a
// starved process would) is run again before its break is believed; with retries off, the
// driver's hiccup is taken for the service's.
func TestSearchRerunsAStepTheDriverWasLateFor(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(srv.Close)
	search := func(retries int) *Result {
		var calls atomic.Int64
		res, err := Search(t.Context(), SearchConfig{
			Load: Config{Target: srv.URL, Duration: 500 * time.Millisecond, Build: func(int) Request {
				if calls.Add(1) == 10 {
					time.Sleep(500 * time.Millisecond)
				}
				return Request{}
			}},
			SLO: SLO{P99: 200 * time.Millisecond}, Start: 100, MaxRate: 100, Retries: retries,
		})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res := search(0)
	if len(res.Steps) != 2 || !res.Steps[0].Rerun || !res.Steps[0].DriverLate || res.Steps[0].Held || !res.Steps[1].Held || res.Knee != 100 || res.BrokeAt != 0 {
		t.Errorf("with the default retry: %d steps, knee %v, broke at %v:\n%s\nwant the late attempt run again and the rate held", len(res.Steps), res.Knee, res.BrokeAt, res.Table())
	}
	res = search(-1)
	if len(res.Steps) != 1 || res.Steps[0].Held || res.Knee != 0 || res.BrokeAt != 100 {
		t.Errorf("without retries: %d steps, knee %v, broke at %v:\n%s\nwant the one late attempt taken as broken", len(res.Steps), res.Knee, res.BrokeAt, res.Table())
	}
}
