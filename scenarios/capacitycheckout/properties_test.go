package capacitycheckout_test

import (
	"testing"

	"github.com/holdfast-ci/holdfast/scenarios/capacitycheckout"
	"github.com/holdfast-ci/holdfast/scenarios/scenariotest"
)

// properties maps every rule the brief numbers to the scenarios that check it.
var properties = map[string][]string{
	"P1":  {"claim_is_honest", "provider_fault_under_load"},
	"P2":  {"provider_fault_under_load"},
	"P3":  {"overload_at_2x"},
	"P4":  {"claim_is_honest"},
	"P5":  {"claim_is_honest"},
	"P6":  {"claim_is_honest"},
	"P7":  {"overload_at_2x"},
	"P8":  {"overload_at_2x"},
	"P9":  {"overload_at_2x"},
	"P10": {"provider_fault_under_load"},
	"P11": {"provider_fault_under_load"},
}

func TestPropertiesAreChecked(t *testing.T) {
	scenariotest.Properties(t, scenariotest.ReadBrief(t, capacitycheckout.Slug), capacitycheckout.Scenarios(), properties)
}
