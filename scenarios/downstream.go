package scenarios

import (
	"context"
	"fmt"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios/agent"
)

// The downstream fake as the challenges that call one (circuit-breaker, load-shedding) drive it:
// each failure says what was being done, so a scenario returns it as it is.

// SetDownstream sets how the downstream fake answers the paths under prefix; the zero behaviour
// makes them healthy again.
func (h *Harness) SetDownstream(ctx context.Context, prefix string, b agent.DownstreamBehaviour) error {
	b.PathPrefix = prefix
	if err := h.Agent.Downstream(ctx, b); err != nil {
		return fmt.Errorf("set downstream behaviour: %w", err)
	}
	return nil
}

// DownstreamLink takes the app's link to the downstream fake down (connections refused) or
// brings it back up.
func (h *Harness) DownstreamLink(ctx context.Context, up bool) error {
	kind := agent.FaultDown
	if up {
		kind = agent.FaultUp
	}
	if err := h.Agent.Fault(ctx, "downstream", agent.Fault{Kind: kind}); err != nil {
		return fmt.Errorf("downstream link %s: %w", kind, err)
	}
	return nil
}

// WithLinkLatency runs f while the app's link named link ("postgres", "redis", "downstream")
// is slowed by d each way, and clears the link's faults after, also when ctx has ended: f's
// error first, then the clearing's.
func (h *Harness) WithLinkLatency(ctx context.Context, link string, d time.Duration, f func() error) error {
	if err := h.Agent.Fault(ctx, link, agent.Fault{Kind: agent.FaultLatency, LatencyMS: d.Milliseconds()}); err != nil {
		return fmt.Errorf("slow the %s link: %w", link, err)
	}
	ferr := f()
	if err := h.Agent.Fault(context.WithoutCancel(ctx), link, agent.Fault{Kind: agent.FaultClear}); err != nil && ferr == nil {
		return fmt.Errorf("clear the %s link: %w", link, err)
	}
	return ferr
}

// DownstreamCalls returns the calls the downstream fake received after the one numbered since
// (0: all), in arrival order.
func (h *Harness) DownstreamCalls(ctx context.Context, since int) ([]agent.Call, error) {
	calls, err := h.Agent.Calls(ctx, since)
	if err != nil {
		return nil, fmt.Errorf("read downstream calls: %w", err)
	}
	return calls, nil
}

// SleepUntil waits until t (at once if t has passed) or the end of ctx, whichever is first.
func SleepUntil(ctx context.Context, t time.Time) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Until(t)):
		return nil
	}
}
