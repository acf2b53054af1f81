package cachestampede

import (
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
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
