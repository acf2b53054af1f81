package webhookreceiver_test

import (
	"testing"

	"github.com/holdfast-ci/holdfast/scenarios/scenariotest"
	"github.com/holdfast-ci/holdfast/scenarios/webhookreceiver"
)

// properties maps each property the brief numbers (**P1**, …) to the scenarios that check it.
var properties = map[string][]string{
	// 401 unless signed over the raw body; nothing of it applied.
	"P1": {"signature_checked"},
	// A timestamp more than 5 minutes off: 401.
	"P2": {"replay_rejected"},
	// A 2xx for every delivery, each event applied once: every scenario counts applications.
	"P3": {"duplicates_applied_once", "signature_checked", "replay_rejected", "out_of_order_keeps_newest",
		"acks_fast_while_downstream_slow", "acked_events_survive_restart", "retries_until_downstream_recovers",
		"long_outage_retried_within_2s", "concurrent_versions_keep_newest"},
	// An older version never applied after a newer one, also when they arrive together.
	"P4": {"out_of_order_keeps_newest", "concurrent_versions_keep_newest"},
	// A 2xx within 500 ms whatever the downstream does; applied within 3 s when it is healthy.
	"P5": {"acks_fast_while_downstream_slow", "signature_checked", "duplicates_applied_once"},
	// Retried until a 2xx, at most 2 s apart, applied within 5 s of the downstream's recovery.
	"P6": {"retries_until_downstream_recovers", "long_outage_retried_within_2s"},
	// Stored before the 2xx, taken up again after both replicas are killed.
	"P7": {"acked_events_survive_restart"},
}

func TestEveryPropertyIsChecked(t *testing.T) {
	scenariotest.Properties(t, scenariotest.ReadBrief(t, webhookreceiver.Slug), webhookreceiver.Scenarios(), properties)
}
