package ratelimiter

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
)

// TestJudgeRoundedUp: a round passes only when every ask was judged and rounded up; an ask that
// straddled a whole second or came at the window's very end makes the round Inconclusive, never
// a pass, so rounding to the nearest (which differs from rounding up at the 1.4 s ask only)
// cannot pass by luck.
func TestJudgeRoundedUp(t *testing.T) {
	t.Parallel()
	w := windowAt(time.Unix(1_800_000_000, 0))
	rejected := func(retryAfter, reset int) scenarios.Response {
		h := http.Header{}
		h.Set("RateLimit-Policy", fmt.Sprintf(`"%s";q=%d;w=%d`, PolicyName, Limit, int(Window.Seconds())))
		h.Set("RateLimit", fmt.Sprintf(`"%s";r=0;t=%d`, PolicyName, reset))
		h.Set("Retry-After", fmt.Sprint(retryAfter))
		return scenarios.Response{Status: http.StatusTooManyRequests, Header: h}
	}
	// at is an ask sent at offset into w that took took, answered r.
	at := func(offset, took time.Duration, r scenarios.Response) ask {
		sent := w.start.Add(offset)
		return ask{sent: sent, answered: sent.Add(took), r: r}
	}
	const fast = 5 * time.Millisecond
	up := []ask{at(600*time.Millisecond, fast, rejected(2, 2)), at(1600*time.Millisecond, fast, rejected(1, 1))}
	for _, c := range []struct {
		name string
		asks []ask
		want scenarios.Verdict
	}{
		{"rounded up at both asks", up, scenarios.VerdictPass},
		{"rounded to the nearest at 1.4 s left", []ask{at(600*time.Millisecond, fast, rejected(1, 1)), up[1]}, scenarios.VerdictFail},
		{"rounded down at 0.4 s left", []ask{up[0], at(1600*time.Millisecond, fast, rejected(0, 0))}, scenarios.VerdictFail},
		{"t differs from Retry-After", []ask{at(600*time.Millisecond, fast, rejected(2, 1)), up[1]}, scenarios.VerdictFail},
		{"admitted again in the same window", []ask{at(600*time.Millisecond, fast, scenarios.Response{Status: http.StatusOK}), up[1]}, scenarios.VerdictFail},
		{"the first ask straddled a second, both right", []ask{at(600*time.Millisecond, 450*time.Millisecond, rejected(1, 1)), up[1]}, scenarios.VerdictInconclusive},
		{"the first ask straddled a second, out of range", []ask{at(600*time.Millisecond, 450*time.Millisecond, rejected(3, 3)), up[1]}, scenarios.VerdictFail},
		{"the last ask answered at the window's end", []ask{up[0], at(1600*time.Millisecond, 390*time.Millisecond, rejected(1, 1))}, scenarios.VerdictInconclusive},
		{"both asks skipped", []ask{at(600*time.Millisecond, 450*time.Millisecond, rejected(1, 1)), at(1600*time.Millisecond, 390*time.Millisecond, rejected(1, 1))}, scenarios.VerdictInconclusive},
		{"no ask at all", nil, scenarios.VerdictInconclusive},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := judgeRoundedUp(w, c.asks)
			if got := scenarios.VerdictOf(err); got != c.want {
				t.Fatalf("verdict %v (%v); want %v", got, err, c.want)
			}
		})
	}
}

// TestJudgeNeverAnswered: a replica restarted while Redis refused connections that answered
// no /healthz at all fails on a machine with CPU to spare, and is Inconclusive when the
// machine was starved or stood still.
func TestJudgeNeverAnswered(t *testing.T) {
	t.Parallel()
	idle := scenarios.Stall{App: 8 * time.Millisecond, Agent: 3 * time.Millisecond, Harness: 2 * time.Millisecond, CPU: 0.9}
	busy := scenarios.Stall{App: 90 * time.Millisecond, Agent: 40 * time.Millisecond, Harness: 20 * time.Millisecond, CPU: 0.3}
	starved := scenarios.Stall{App: 300 * time.Millisecond, Agent: 100 * time.Millisecond, Harness: 30 * time.Millisecond, CPU: 0.15}
	paused := scenarios.Stall{App: 1200 * time.Millisecond, Agent: 40 * time.Millisecond, Harness: 20 * time.Millisecond, CPU: 0.8}
	stood := scenarios.Stall{App: 3500 * time.Millisecond, Agent: 40 * time.Millisecond, Harness: 20 * time.Millisecond, CPU: 0.8}
	answered := time.Unix(1_800_000_000, 0)
	for _, c := range []struct {
		name  string
		first time.Time
		stall scenarios.Stall
		want  scenarios.Verdict
	}{
		{"answered", answered, idle, scenarios.VerdictPass},
		{"answered on a starved machine", answered, starved, scenarios.VerdictPass},
		{"never answered, CPU to spare", time.Time{}, idle, scenarios.VerdictFail},
		{"never answered, a third of a CPU", time.Time{}, busy, scenarios.VerdictFail},
		{"never answered, starved", time.Time{}, starved, scenarios.VerdictInconclusive},
		{"never answered, a pause of a second", time.Time{}, paused, scenarios.VerdictFail},
		{"never answered, the machine stood still", time.Time{}, stood, scenarios.VerdictInconclusive},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := judgeNeverAnswered(c.first, 10*time.Second, c.stall, 2)
			if got := scenarios.VerdictOf(err); got != c.want {
				t.Fatalf("verdict %v (%v); want %v", got, err, c.want)
			}
		})
	}
}
