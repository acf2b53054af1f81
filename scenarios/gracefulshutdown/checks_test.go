package gracefulshutdown

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
)

// TestDrainShown: a round of in_flight_requests_complete counts by how long the app drained for
// its last answer, not by how late the signal came: CI's 810 ms lag with a transfer that still
// needed 2.3 s of drain tested a 2 s drain limit.
func TestDrainShown(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	sig := sent{sent: t0.Add(500 * time.Millisecond), delivered: t0.Add(810 * time.Millisecond)}
	at := func(ms ...int) []answer {
		var rs []answer
		for _, m := range ms {
			rs = append(rs, answer{end: t0.Add(time.Duration(m) * time.Millisecond)})
		}
		return rs
	}
	for _, c := range []struct {
		name   string
		rs     []answer
		judged bool
	}{
		{"late signal, last transfer still needed 2.3 s", at(1300, 1310, 3110, 1290), true},
		{"the last answer counts, whatever its place", at(3110, 1300), true},
		{"late signal, last transfer needed 2.1 s", at(1300, 2910), false},
		{"every transfer answered before the signal's delivery was confirmed", at(700, 800), false},
	} {
		if got := drainShown(c.rs, sig) >= drainTested; got != c.judged {
			t.Errorf("%s: judged %v, want %v (drain shown %s)", c.name, got, c.judged, drainShown(c.rs, sig))
		}
	}
}

// TestUntested: a scenario that probes the app while a transfer drains is Inconclusive when the
// transfer drained to its 201 but no probe was judged meanwhile, never a pass; with a probe
// judged, or a transfer cut short (no drain to probe), it is judged as it is.
func TestUntested(t *testing.T) {
	created := answer{Response: scenarios.Response{Status: http.StatusCreated}}
	cut := answer{Response: scenarios.Response{Err: errors.New("connection reset by peer")}}
	failed := answer{Response: scenarios.Response{Status: http.StatusInternalServerError}}
	for _, c := range []struct {
		name    string
		judged  bool
		drained answer
		want    scenarios.Verdict
	}{
		{"judged while it drained", true, created, scenarios.VerdictPass},
		{"drained to 201, nothing judged", false, created, scenarios.VerdictInconclusive},
		{"cut short, nothing judged", false, cut, scenarios.VerdictPass},
		{"failed, nothing judged", false, failed, scenarios.VerdictPass},
	} {
		if got := scenarios.VerdictOf(untested(c.judged, c.drained, "nothing judged")); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// TestKilledNothing: sigkill_leaves_no_half_transfer is Inconclusive when every transfer was
// answered 201 before SIGKILL's delivery was confirmed (the kill may have come after all of
// them), and judged when one was cut short or answered after the kill was confirmed.
func TestKilledNothing(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	sig := sent{sent: t0.Add(time.Second), delivered: t0.Add(3500 * time.Millisecond)}
	at := func(ms int, status int) answer {
		return answer{Response: scenarios.Response{Status: status}, end: t0.Add(time.Duration(ms) * time.Millisecond)}
	}
	reset := answer{Response: scenarios.Response{Err: errors.New("EOF")}, end: t0.Add(1100 * time.Millisecond)}
	for _, c := range []struct {
		name string
		rs   []answer
		want scenarios.Verdict
	}{
		{"all answered before the kill was confirmed", []answer{at(3010, 201), at(3020, 201), at(3030, 201)}, scenarios.VerdictInconclusive},
		{"one cut short", []answer{at(3010, 201), reset, at(3030, 201)}, scenarios.VerdictPass},
		{"every one cut short", []answer{reset, reset, reset}, scenarios.VerdictPass},
		{"one answered after the kill was confirmed", []answer{at(3010, 201), at(3600, 201), at(3030, 201)}, scenarios.VerdictPass},
	} {
		if got := scenarios.VerdictOf(killedNothing(c.rs, sig)); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
