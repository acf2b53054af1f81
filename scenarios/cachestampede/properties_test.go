package cachestampede_test

import (
	"testing"

	"github.com/holdfast-ci/holdfast/scenarios/cachestampede"
	"github.com/holdfast-ci/holdfast/scenarios/scenariotest"
)

// properties maps every rule the brief numbers to the scenarios that check it.
var properties = map[string][]string{
	"P1":  {"read_through", "hot_key_flush_stampede"},
	"P2":  {"invalid_id_rejected"},
	"P3":  {"origin_failure_recovery"},
	"P4":  {"crashed_filler_does_not_wedge"},
	"P5":  {"origin_failure_recovery"},
	"P6":  {"read_through", "hot_key_flush_stampede"},
	"P7":  {"read_through", "expiry_under_load"},
	"P8":  {"expiry_under_load"},
	"P9":  {"hot_key_flush_stampede", "distinct_keys_not_serialised", "expiry_under_load"},
	"P10": {"stampede_latency", "crashed_filler_does_not_wedge"},
	"P11": {"distinct_keys_not_serialised"},
	"P12": {"origin_failure_recovery"},
	"P13": {"crashed_filler_does_not_wedge"},
}

func TestPropertiesAreChecked(t *testing.T) {
	scenariotest.Properties(t, scenariotest.ReadBrief(t, cachestampede.Slug), cachestampede.Scenarios(), properties)
}
