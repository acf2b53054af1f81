package idempotentpayments_test

import (
	"testing"

	"github.com/holdfast-ci/holdfast/scenarios/idempotentpayments"
	"github.com/holdfast-ci/holdfast/scenarios/scenariotest"
)

// properties maps every rule the brief numbers to the scenarios that check it.
var properties = map[string][]string{
	"P1":  {"basic_request_handling"},
	"P2":  {"missing_key"},
	"P3":  {"missing_key"},
	"P4":  {"concurrent_duplicate_requests"},
	"P5":  {"key_reuse_different_payload"},
	"P6":  {"duplicate_submission_handling", "key_reuse_different_payload", "database_connection_recovery", "restart_persistence"},
	"P7":  {"partial_failure_recovery", "provider_unreachable"},
	"P8":  {"timeout_handling"},
	"P9":  {"partial_failure_recovery", "provider_unreachable", "timeout_handling"},
	"P10": {"duplicate_submission_handling", "concurrent_duplicate_requests"},
	"P11": {"basic_request_handling", "database_connection_recovery", "restart_persistence"},
	"P12": {"restart_persistence"},
	"P13": {"database_connection_recovery"},
	"P14": {"basic_request_handling"},
	"P15": {"timeout_handling"},
}

func TestPropertiesAreChecked(t *testing.T) {
	scenariotest.Properties(t, scenariotest.ReadBrief(t, idempotentpayments.Slug), idempotentpayments.Scenarios(), properties)
}
