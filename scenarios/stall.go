package scenarios

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// stallPause is how long each of WatchStall's probes waits between two measurements.
const stallPause = 10 * time.Millisecond

// Stall is how long the machine stood still, as far as the harness could see, while a scenario
// timed something: the slowest GET /healthz the app answered, the slowest clock the agent told
// (its downstream records the app's calls), and the most the harness's own 10 ms sleeps
// overshot. On a responsive machine each is a few milliseconds. A loaded one stalls the app, the
// agent and the harness, and a time measured across a stall is off by up to the stall: a
// scenario that sees a time outside its tolerance by no more than the stall cannot tell a wrong
// app from a stalled machine, and its round is Inconclusive.
type Stall struct {
	App, Agent, Harness time.Duration
}

// Max is the longest of the three.
func (s Stall) Max() time.Duration { return max(s.App, s.Agent, s.Harness) }

func (s Stall) String() string {
	return fmt.Sprintf("the app's GET /healthz took up to %s, the agent's clock up to %s, the harness's %s sleeps overshot by up to %s",
		s.App.Round(time.Millisecond), s.Agent.Round(time.Millisecond), stallPause, s.Harness.Round(time.Millisecond))
}

// WatchStall measures the Stall until the func it returns is called, which reports it. The app
// (its first replica) and the agent are each asked again as soon as they answered, after
// stallPause; one still unanswered when the watch stops counts for as long as it waited. These
// requests are the grader's, not the learner's: they are not on the scenario's timeline.
func (h *Harness) WatchStall(ctx context.Context) (stop func() Stall) {
	ctx, cancel := context.WithCancel(ctx)
	var s Stall
	var wg sync.WaitGroup
	// probe keeps the most once measured; each goroutine writes only its own field.
	probe := func(slowest *time.Duration, once func(ctx context.Context) time.Duration) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				*slowest = max(*slowest, once(ctx))
				if !sleepFor(ctx, stallPause) {
					return
				}
			}
		}()
	}
	_, base := h.pick(1)
	timed := func(ask func(ctx context.Context)) func(ctx context.Context) time.Duration {
		return func(ctx context.Context) time.Duration {
			start := time.Now()
			ask(ctx)
			return time.Since(start)
		}
	}
	probe(&s.App, timed(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		h.send(ctx, Request{Path: "/healthz"}, http.MethodGet, base, nil, time.Now())
	}))
	if h.Agent != nil {
		probe(&s.Agent, timed(func(ctx context.Context) { _, _ = h.Agent.Clock(ctx) }))
	}
	probe(&s.Harness, func(ctx context.Context) time.Duration {
		start := time.Now()
		if !sleepFor(ctx, stallPause) {
			return 0
		}
		return time.Since(start) - stallPause
	})
	return func() Stall {
		cancel()
		wg.Wait()
		return s
	}
}

// sleepFor waits d, or until ctx ends (false).
func sleepFor(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
