package circuitbreaker

import (
	"testing"

	"github.com/holdfast-ci/holdfast/scenarios"
)

// TestHalfOpenUntested: single_half_open_probe judges the requests sent with the probe when one
// was refused or one let through was seen to wait for it, and is Inconclusive when every one
// let through may have arrived after the probe's answer: a lock held across the probe
// (broken-probe-holds-lock) must not pass on a loaded machine.
func TestHalfOpenUntested(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name                        string
		refused, waited, letThrough int
		want                        scenarios.Verdict
	}{
		{"the others refused", 5, 0, 1, scenarios.VerdictPass},
		{"some refused, some arrived late", 3, 0, 3, scenarios.VerdictPass},
		{"let through, seen waiting", 0, 5, 6, scenarios.VerdictPass},
		{"let through, every control late", 0, 0, 6, scenarios.VerdictInconclusive},
		{"the probe alone", 0, 0, 1, scenarios.VerdictPass},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := halfOpenUntested(c.refused, c.waited, c.letThrough)
			if got := scenarios.VerdictOf(err); got != c.want {
				t.Fatalf("verdict %v (%v); want %v", got, err, c.want)
			}
		})
	}
}
