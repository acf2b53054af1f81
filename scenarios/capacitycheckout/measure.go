package capacitycheckout

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/agent"
	"github.com/holdfast-ci/holdfast/scenarios/load"
)

// prepare sets what every load scenario assumes: the load SKU's price in Redis and the
// provider's latency.
func prepare(ctx context.Context, h *scenarios.Harness) error {
	rdb, err := h.Redis()
	if err != nil {
		return err
	}
	defer rdb.Close()
	if err := rdb.Set(ctx, "price:"+LoadSKU, LoadPrice, 0).Err(); err != nil {
		return fmt.Errorf("set the load sku's price in redis: %w", err)
	}
	if err := h.Agent.Provider(ctx, agent.ProviderBehaviour{LatencyMS: ProviderLatency.Milliseconds()}); err != nil {
		return fmt.Errorf("set the provider's latency: %w", err)
	}
	return nil
}

// checkoutLoad is a load run of checkouts of the load SKU against the app.
func checkoutLoad(h *scenarios.Harness, rate float64, d time.Duration) load.Config {
	return load.Config{Target: h.Target.AppURL(), Rate: rate, Duration: d, Timeout: requestTimeout,
		Request: load.Request{Method: "POST", Path: "/checkout", Header: map[string][]string{"Content-Type": {"application/json"}},
			Body: scenarios.JSON(map[string]any{"sku": LoadSKU, "quantity": 1})}}
}

// sample is one look at the app's Postgres connections (pg_stat_activity on the sidecar).
type sample struct {
	at         time.Time
	open, busy int // the app's client connections; those running a query or inside a transaction
}

// pgSampler looks at pg_stat_activity every sampleEvery until stopped: the ground truth of
// how many connections the app holds and how many of them are busy, never the app's word.
type pgSampler struct {
	stop    context.CancelFunc
	done    chan struct{}
	samples []sample
	err     error
}

const sampleEvery = 50 * time.Millisecond

func samplePostgres(ctx context.Context, h *scenarios.Harness) (*pgSampler, error) {
	conn, err := h.Postgres(ctx)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &pgSampler{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer conn.Close(context.WithoutCancel(ctx))
		t := time.NewTicker(sampleEvery)
		defer t.Stop()
		for {
			var sm sample
			qctx, qcancel := context.WithTimeout(ctx, time.Second)
			err := conn.QueryRow(qctx, `SELECT count(*), count(*) FILTER (WHERE state IS DISTINCT FROM 'idle')
				FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()`).Scan(&sm.open, &sm.busy)
			qcancel()
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				s.err = fmt.Errorf("read pg_stat_activity: %w", err)
				return
			}
			sm.at = time.Now()
			s.samples = append(s.samples, sm)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return s, nil
}

// Stop ends the sampling and returns what it saw.
func (s *pgSampler) Stop() ([]sample, error) {
	s.stop()
	<-s.done
	return s.samples, s.err
}

// maxOpen is the most connections the app held at once.
func maxOpen(ss []sample) int {
	m := 0
	for _, s := range ss {
		m = max(m, s.open)
	}
	return m
}

// windows runs n back-to-back windows of cfg, each of length w and its own report, on one
// schedule: window k starts at k·w whatever the earlier ones' answers are doing (each is
// open-loop), so a backlog shows as late answers in the windows it spills into.
func windows(ctx context.Context, cfg load.Config, n int, w time.Duration) ([]*load.Report, error) {
	cfg.Duration = w
	reps := make([]*load.Report, n)
	errs := make([]error, n)
	start := time.Now()
	var wg sync.WaitGroup
	for k := range n {
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil, ctx.Err()
		case <-time.After(time.Until(start.Add(time.Duration(k) * w))):
		}
		wg.Go(func() { reps[k], errs[k] = load.Run(ctx, cfg) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return reps, nil
}

// recovery is how long after the first window the service was back under the SLO for good:
// the end of the last window that broke it (0 when none did). ok is false when the last window
// still broke it. A window's p99 may exceed the SLO by the stall the harness measured meanwhile
// (a time measured across a stall is off by up to the stall): on a loaded machine the windows'
// few requests each carry it.
func recovery(reps []*load.Report, w, stall time.Duration) (after time.Duration, ok bool, worst string) {
	last := -1
	for k, r := range reps {
		if broken, why := breaks(r, stall); broken {
			last, worst = k, fmt.Sprintf("window %d (%s–%s after the load dropped): %s", k+1, w*time.Duration(k), w*time.Duration(k+1), why)
		}
	}
	return w * time.Duration(last+1), last < len(reps)-1, worst
}

// breaks says whether one window broke the SLO, its p99 allowed the stall on top, and how.
func breaks(r *load.Report, stall time.Duration) (bool, string) {
	switch {
	case r.Latency.P99 > SLOP99+stall:
		return true, fmt.Sprintf("p99 %s > %s", r.Latency.P99.Round(time.Millisecond), SLOP99)
	case r.ErrorRate() > ErrorBudget:
		return true, fmt.Sprintf("%d of %d failed (%s: %s)", r.Errors.Total(), r.Sent+r.Errors.Dropped, r.Errors, statusesOf(r))
	}
	return false, ""
}

// statusesOf lists a report's answers for a learner: "120×201, 80×503, 3 without an answer".
func statusesOf(r *load.Report) string {
	var parts []string
	for _, code := range slices.Sorted(maps.Keys(r.Statuses)) {
		parts = append(parts, fmt.Sprintf("%d×%d", r.Statuses[code], code))
	}
	if r.Errors.Timeout > 0 {
		parts = append(parts, fmt.Sprintf("%d without an answer in %s", r.Errors.Timeout, requestTimeout))
	}
	if r.Errors.Connection > 0 {
		parts = append(parts, fmt.Sprintf("%d refused or reset", r.Errors.Connection))
	}
	if len(parts) == 0 {
		return "no answers"
	}
	return strings.Join(parts, ", ")
}
