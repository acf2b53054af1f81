package loadshedding

import (
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/agent"
)

// TestJudgeNothingShed: a load of which nothing was shed is Inconclusive when it never took
// every permit at once (spread by the machine: a cool-down after shedding was never tested), and
// is judged on when it did, also beyond the limit (sheds_beyond_limit's to fail).
func TestJudgeNothingShed(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1_800_000_000, 0)
	ms := time.Millisecond
	// calls starts one 500 ms call at each offset, in milliseconds.
	calls := func(offsets ...int) []agent.Call {
		var cs []agent.Call
		for _, o := range offsets {
			start := t0.Add(time.Duration(o) * ms)
			cs = append(cs, agent.Call{Start: start, End: start.Add(500 * ms)})
		}
		return cs
	}
	for _, c := range []struct {
		name  string
		calls []agent.Call
		want  scenarios.Verdict
	}{
		{"all eight at once: no limit", calls(0, 1, 2, 3, 4, 5, 6, 7), scenarios.VerdictPass},
		{"four at once, four queued after them", calls(0, 1, 2, 3, 501, 502, 503, 504), scenarios.VerdictPass},
		{"spread, never four together", calls(0, 200, 400, 600, 800, 1000, 1200, 1400), scenarios.VerdictInconclusive},
		{"two pairs apart", calls(0, 10, 600, 610), scenarios.VerdictInconclusive},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := judgeNothingShed(c.calls, "8 requests at once")
			if got := scenarios.VerdictOf(err); got != c.want {
				t.Fatalf("verdict %v (%v); want %v", got, err, c.want)
			}
		})
	}
}
