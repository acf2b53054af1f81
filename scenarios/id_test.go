package scenarios_test

import (
	"encoding/hex"
	"testing"

	"github.com/holdfast-ci/holdfast/scenarios"
)

func TestRandomHex(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 1000 {
		s := scenarios.RandomHex(5)
		if b, err := hex.DecodeString(s); err != nil || len(b) != 5 {
			t.Fatalf("RandomHex(5) = %q: want 10 hex digits", s)
		}
		if seen[s] {
			t.Fatalf("RandomHex(5) gave %q twice in 1000 calls", s)
		}
		seen[s] = true
	}
}
