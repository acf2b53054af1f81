package catalog

import (
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
)

func TestCatalog(t *testing.T) {
	es, err := Entries()
	if err != nil {
		t.Fatal(err)
	}
	if len(es) == 0 {
		t.Fatal("no challenges")
	}
	for _, e := range es {
		if err := scenarios.Validate(e.Challenge.Scenarios); err != nil {
			t.Errorf("%s: %v", e.Slug, err)
		}
		if e.Challenge.Limits.StartTimeout <= 0 || e.Challenge.Limits.StartTimeout > 2*time.Minute {
			t.Errorf("%s: start_timeout %s", e.Slug, e.Challenge.Limits.StartTimeout)
		}
	}
	if _, err := Lookup("nope"); err == nil {
		t.Fatal("unknown slug: want an error")
	}
	p, err := Lookup("idempotent-payments")
	if err != nil || p.Limits.MemoryMB != 512 || p.Limits.StartTimeout != 30*time.Second {
		t.Fatalf("idempotent-payments: %+v %v", p.Limits, err)
	}
}
