package webhookreceiver

import (
	"net/http"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/agent"
)

// TestJudgeAcks: an answer that came after its event's downstream call ended fails whatever the
// machine did; a late answer the downstream cannot explain is Inconclusive unless it is later
// than the downstream itself takes and no stall excuses it.
func TestJudgeAcks(t *testing.T) {
	ms := time.Millisecond
	base := time.Unix(1_700_000_000, 0)
	idle := scenarios.Stall{App: 2 * ms, Agent: 3 * ms, Harness: ms, CPU: 0.9}
	starved := scenarios.Stall{App: 40 * ms, Agent: 30 * ms, Harness: 20 * ms, CPU: 0.2}
	events := []Event{newCredit(300), newCredit(301), newCredit(302)}
	// round builds the answers (each sent 10 ms after the previous was answered) and the
	// downstream's calls: calls[i] is event i's call as (start, length) after its delivery was
	// sent, or nothing when negative.
	type call struct{ start, took time.Duration }
	round := func(took []time.Duration, calls []call) ([]scenarios.Response, []time.Time, ledger) {
		answers := make([]scenarios.Response, len(took))
		answered := make([]time.Time, len(took))
		l := ledger{byEvent: map[string][]applyCall{}}
		at := base
		for i, d := range took {
			answers[i] = scenarios.Response{Status: http.StatusAccepted, Duration: d}
			answered[i] = at.Add(d)
			if c := calls[i]; c.took >= 0 {
				ac := applyCall{Call: agent.Call{Start: at.Add(c.start), End: at.Add(c.start + c.took), Status: http.StatusOK}, EventID: events[i].ID}
				l.byEvent[events[i].ID] = append(l.byEvent[events[i].ID], ac)
			}
			at = answered[i].Add(10 * ms)
		}
		return answers, answered, l
	}
	bg := call{20 * ms, SlowLatency}    // a worker's call, after the answer
	inline := call{5 * ms, SlowLatency} // the call made before answering
	for _, c := range []struct {
		name  string
		took  []time.Duration
		calls []call
		stall scenarios.Stall
		want  string
	}{
		{"fast answers", []time.Duration{30 * ms, 25 * ms, 40 * ms}, []call{bg, bg, bg}, idle, "pass"},
		{"inline processing", []time.Duration{1220 * ms, 1215 * ms, 1230 * ms}, []call{inline, inline, inline}, idle, "fail"},
		{"inline processing, starved", []time.Duration{1220 * ms, 1215 * ms, 1230 * ms}, []call{inline, inline, inline}, starved, "fail"},
		{"only the last inline, the first late for the machine", []time.Duration{654 * ms, 30 * ms, 1230 * ms}, []call{bg, bg, inline}, idle, "fail"},
		{"late, no call yet (final10)", []time.Duration{654 * ms, 30 * ms, 40 * ms}, []call{{700 * ms, SlowLatency}, bg, bg}, idle, "inconclusive"},
		{"later than the downstream takes, no call ended before", []time.Duration{1500 * ms, 30 * ms, 40 * ms}, []call{{1520 * ms, SlowLatency}, bg, bg}, idle, "fail"},
		{"later than the downstream takes, starved", []time.Duration{1500 * ms, 30 * ms, 40 * ms}, []call{{1520 * ms, SlowLatency}, bg, bg}, starved, "inconclusive"},
	} {
		answers, answered, l := round(c.took, c.calls)
		err := judgeAcks(events, answers, answered, l, c.stall, base)
		if got := scenarios.VerdictOf(err).String(); got != c.want {
			t.Errorf("%s: %s (%v), want %s", c.name, got, err, c.want)
		}
	}
}

// TestVersionsOverlapped: concurrent_versions_keep_newest tested a race only if a lower version
// was acknowledged while the newest's first call was still in flight; an app that acknowledges
// after applying is judged as it is (it cannot race on deliveries sent one after another).
func TestVersionsOverlapped(t *testing.T) {
	ms := time.Millisecond
	base := time.Unix(1_700_000_000, 0)
	at := func(offsets ...int) []time.Time {
		var ts []time.Time
		for _, o := range offsets {
			ts = append(ts, base.Add(time.Duration(o)*ms))
		}
		return ts
	}
	call := func(version, start, end int) applyCall {
		return applyCall{Call: agent.Call{Start: base.Add(time.Duration(start) * ms), End: base.Add(time.Duration(end) * ms), Status: http.StatusOK},
			Account: "acc-1", Type: balanceUpdated, Version: version}
	}
	newestApplied := ledger{all: []applyCall{call(6, 20, 230)}}
	for _, c := range []struct {
		name  string
		l     ledger
		acked []time.Time
		want  scenarios.Verdict
	}{
		{"fast acks, side by side", newestApplied, at(10, 25, 40, 55, 70), scenarios.VerdictPass},
		{"one lower version in time", newestApplied, at(10, 200, 700, 1400, 2100), scenarios.VerdictPass},
		{"acks slower than the call", newestApplied, at(10, 700, 1400, 2100, 2800), scenarios.VerdictInconclusive},
		{"applied before acknowledging", newestApplied, at(240, 480, 720, 960, 1200), scenarios.VerdictPass},
		{"newest never called", ledger{}, at(10, 700, 1400, 2100, 2800), scenarios.VerdictPass},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := versionsOverlapped(c.l, "acc-1", 6, c.acked)
			if got := scenarios.VerdictOf(err); got != c.want {
				t.Fatalf("verdict %v (%v); want %v", got, err, c.want)
			}
		})
	}
}
