package loadshedding

import (
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
)

// TestSlowSheds: 503s past the grader's allowance fail on a responsive machine; on a busy one
// they are run again, unless they took as long as a queue (a whole call of the downstream).
func TestSlowSheds(t *testing.T) {
	ms := time.Millisecond
	queued := saturateLatency * ms
	idle := scenarios.Stall{App: 5 * ms, Agent: 3 * ms, Harness: 2 * ms, CPU: 0.9}
	starved := scenarios.Stall{App: 60 * ms, Agent: 40 * ms, Harness: 30 * ms, CPU: 0.25}
	stood := scenarios.Stall{App: 400 * ms, Agent: 350 * ms, Harness: 300 * ms, CPU: 0.8}
	sheds := func(beyond ...time.Duration) []timed {
		var as []timed
		for _, b := range beyond {
			as = append(as, timed{Beyond: b, Response: scenarios.Response{Duration: b + 100*ms}})
		}
		return as
	}
	for _, c := range []struct {
		name  string
		as    []timed
		stall scenarios.Stall
		want  string
	}{
		{"fast", sheds(20*ms, 30*ms, 40*ms), idle, "pass"},
		{"slow, responsive", sheds(300*ms, 308*ms, 317*ms), idle, "fail"},
		// final12, reference-blind-ts at load ~20.
		{"slow, starved", sheds(300*ms, 308*ms, 317*ms), starved, "inconclusive"},
		{"slow, stood still", sheds(300*ms, 308*ms, 317*ms), stood, "inconclusive"},
		{"as slow as a queue, starved", sheds(700*ms, 720*ms, 750*ms), starved, "fail"},
		{"after a 1 s wait, stood still", sheds(1000*ms, 1010*ms, 1020*ms), stood, "fail"},
	} {
		err := slowSheds(c.as, "in a test", queued, c.stall)
		if got := scenarios.VerdictOf(err).String(); got != c.want {
			t.Errorf("%s: %s (%v), want %s", c.name, got, err, c.want)
		}
	}
}
