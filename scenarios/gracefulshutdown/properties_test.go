package gracefulshutdown_test

import (
	"testing"

	"github.com/holdfast-ci/holdfast/scenarios/gracefulshutdown"
	"github.com/holdfast-ci/holdfast/scenarios/scenariotest"
)

// properties maps every rule the brief numbers to the scenarios that check it.
var properties = map[string][]string{
	"P1":  {"basic_transfer", "liveness_holds_while_draining"},
	"P2":  {"basic_transfer"},
	"P3":  {"basic_transfer", "in_flight_requests_complete"},
	"P4":  {"basic_transfer"},
	"P5":  {"basic_transfer"},
	"P6":  {"basic_transfer"},
	"P7":  {"basic_transfer", "in_flight_requests_complete", "sigkill_leaves_no_half_transfer"},
	"P8":  {"readiness_fails_on_sigterm"},
	"P9":  {"new_requests_refused"},
	"P10": {"in_flight_requests_complete"},
	"P11": {"keepalive_does_not_block_exit"},
	"P12": {"exits_within_grace", "keepalive_does_not_block_exit"},
}

func TestPropertiesAreChecked(t *testing.T) {
	scenariotest.Properties(t, scenariotest.ReadBrief(t, gracefulshutdown.Slug), gracefulshutdown.Scenarios(), properties)
}
