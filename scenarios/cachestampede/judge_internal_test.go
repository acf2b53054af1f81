package cachestampede

import (
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/agent"
)

// TestJudgeLatencyUnderStall: stampede_latency's 95th percentile over 800 ms by no more than
// the machine stalled is Inconclusive (broken-ts-process-copy once read 828 ms at load 10–15);
// further over it fails however the machine stalled (broken-sleepy-poll's one-second polls).
func TestJudgeLatencyUnderStall(t *testing.T) {
	ms := time.Millisecond
	reads := func(p95 time.Duration) []time.Duration {
		out := make([]time.Duration, 0, 120)
		for range 108 {
			out = append(out, 320*ms)
		}
		for range 12 {
			out = append(out, p95)
		}
		return out
	}
	idle := scenarios.Stall{App: 4 * ms, Agent: 3 * ms, Harness: 2 * ms}
	stalled := scenarios.Stall{App: 60 * ms, Agent: 45 * ms, Harness: 30 * ms}
	for _, c := range []struct {
		name  string
		reads []time.Duration
		stall scenarios.Stall
		want  string
	}{
		{"a fast stampede", reads(350 * ms), idle, "pass"},
		{"at the bound", reads(800 * ms), idle, "pass"},
		{"28 ms over, responsive", reads(828 * ms), idle, "fail"},
		{"28 ms over in a 60 ms stall", reads(828 * ms), stalled, "inconclusive"},
		{"one-second polls in a 60 ms stall", reads(1310 * ms), stalled, "fail"},
	} {
		err := judgeLatency(c.reads, c.stall)
		if got := scenarios.VerdictOf(err).String(); got != c.want {
			t.Errorf("%s: %s (%v), want %s", c.name, got, err, c.want)
		}
	}
}

// TestJudgeStampede: one flush, one origin call. Two calls at once fail however the machine
// stalled; two one after the other fail on a responsive machine and are Inconclusive during a
// stall that can time out a Redis read (CI, e8b0e63: broken-no-id-validation, the reference's
// code, read Redis past its 500 ms and served the second call from the origin).
func TestJudgeStampede(t *testing.T) {
	ms := time.Millisecond
	t0 := time.Date(2026, 12, 7, 18, 0, 21, 0, time.UTC)
	call := func(start, end int) agent.Call {
		return agent.Call{Start: t0.Add(time.Duration(start) * ms), End: t0.Add(time.Duration(end) * ms)}
	}
	idle := scenarios.Stall{App: 4 * ms, Agent: 3 * ms, Harness: 2 * ms}
	stalled := scenarios.Stall{App: 620 * ms, Agent: 80 * ms, Harness: 40 * ms}
	for _, c := range []struct {
		name  string
		calls []agent.Call
		stall scenarios.Stall
		want  string
	}{
		{"one fill", []agent.Call{call(0, 300)}, stalled, "pass"},
		{"one per replica, at once", []agent.Call{call(0, 300), call(20, 320)}, stalled, "fail"},
		{"one after the other, responsive", []agent.Call{call(0, 300), call(310, 610)}, idle, "fail"},
		{"one after the other, stalled", []agent.Call{call(0, 300), call(700, 1000)}, stalled, "inconclusive"},
		{"three, two at once, stalled", []agent.Call{call(0, 300), call(100, 400), call(700, 1000)}, stalled, "fail"},
		{"none", nil, idle, "fail"},
	} {
		err := judgeStampede("60 concurrent reads", c.calls, c.stall, 2)
		if got := scenarios.VerdictOf(err).String(); got != c.want {
			t.Errorf("%s: %s (%v), want %s", c.name, got, err, c.want)
		}
	}
}
