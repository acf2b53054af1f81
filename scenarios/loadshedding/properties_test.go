package loadshedding_test

import (
	"testing"

	"github.com/holdfast-ci/holdfast/scenarios/loadshedding"
	"github.com/holdfast-ci/holdfast/scenarios/scenariotest"
)

// properties maps each property the brief numbers (**P1**, …) to the scenarios that check it.
var properties = map[string][]string{
	"P1":  {"health_while_saturated"},                                                                                    // /healthz 200 fast while saturated, no permit
	"P2":  {"serves_within_limit", "recovers_when_load_drops", "permits_released_on_failures"},                           // 200 with the downstream's body
	"P3":  {"serves_within_limit"},                                                                                       // bad body: 400, no call
	"P4":  {"permits_released_on_failures"},                                                                              // 5xx or refused: 502
	"P5":  {"permits_released_on_failures"},                                                                              // 1 s deadline: 504
	"P6":  {"sheds_beyond_limit"},                                                                                        // 503 + Retry-After: 1, fast, no call
	"P7":  {"sheds_beyond_limit", "recovers_when_load_drops"},                                                            // at most 4 in flight (the downstream's record)
	"P8":  {"serves_within_limit", "health_while_saturated", "recovers_when_load_drops", "permits_released_on_failures"}, // 4 at once all admitted
	"P9":  {"sheds_beyond_limit"},                                                                                        // a wait of 100 ms at most, no queue
	"P10": {"serves_within_limit", "sheds_beyond_limit", "recovers_when_load_drops", "permits_released_on_failures"},     // one call per admitted request, none when shed
	"P11": {"permits_released_on_failures"},                                                                              // permits back after 5xx, refused, deadline
	"P12": {"recovers_when_load_drops"},                                                                                  // no cool-down after shedding
	"P13": {"serves_within_limit", "sheds_beyond_limit", "recovers_when_load_drops", "permits_released_on_failures"},     // POST /work {"id"}
}

func TestEveryPropertyIsChecked(t *testing.T) {
	scenariotest.Properties(t, scenariotest.ReadBrief(t, loadshedding.Slug), loadshedding.Scenarios(), properties)
}
