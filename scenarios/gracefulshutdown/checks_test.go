package gracefulshutdown

import (
	"testing"
	"time"
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
