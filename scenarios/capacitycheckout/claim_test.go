package capacitycheckout

import (
	"strings"
	"testing"
)

// TestParseClaim: a claim parses, and each mistake a learner can make in it says what is wrong
// and what to write instead.
func TestParseClaim(t *testing.T) {
	t.Parallel()
	good := "sustained_rps: 70\nsaturates_first: postgres-connections\nat_2x: shed\nrecovery_seconds: 1\n"
	c, err := ParseClaim([]byte(good))
	if err != nil || c != (Claim{SustainedRPS: 70, SaturatesFirst: ResourcePostgres, At2x: At2xShed, RecoverySeconds: 1}) {
		t.Fatalf("ParseClaim(good) = %+v, %v", c, err)
	}
	for name, tc := range map[string]struct{ yaml, say string }{
		"empty":            {"", "is empty: write the four fields"},
		"not yaml":         {"sustained_rps: [", "is not the claim's YAML"},
		"unknown field":    {good + "p99_ms: 300\n", "field p99_ms not found"},
		"missing fields":   {"sustained_rps: 70\n", "has no at_2x, recovery_seconds, saturates_first"},
		"rate not number":  {strings.Replace(good, "70", "fast", 1), "is not the claim's YAML"},
		"rate zero":        {strings.Replace(good, "70", "0", 1), "sustained_rps is 0; write the checkouts per second"},
		"rate negative":    {strings.Replace(good, "70", "-5", 1), "sustained_rps is -5"},
		"unknown resource": {strings.Replace(good, "postgres-connections", "redis", 1), `saturates_first is "redis"; write one of postgres-connections, app-limit, app-cpu`},
		"bad at_2x":        {strings.Replace(good, "shed", "crash", 1), `at_2x is "crash"; write shed`},
		"bad recovery":     {strings.Replace(good, "recovery_seconds: 1", "recovery_seconds: 600", 1), "recovery_seconds is 600"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseClaim([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.say) {
				t.Fatalf("ParseClaim(%q): %v; want an error saying %q", tc.yaml, err, tc.say)
			}
		})
	}
}
