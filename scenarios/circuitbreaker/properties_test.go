package circuitbreaker_test

import (
	"testing"

	"github.com/holdfast-ci/holdfast/scenarios/circuitbreaker"
	"github.com/holdfast-ci/holdfast/scenarios/scenariotest"
)

// properties maps each property the brief numbers (**P1**, …) to the scenarios that check it.
var properties = map[string][]string{
	"P1":  {"passthrough_and_errors", "consecutive_failures_only"},                                                    // below 500: status and body unchanged (200, 404)
	"P2":  {"passthrough_and_errors"},                                                                                 // no symbol or an empty one: 400, no call
	"P3":  {"passthrough_and_errors", "opens_after_threshold", "probe_failure_reopens"},                               // 5xx or refused: 502
	"P4":  {"passthrough_and_errors", "fail_fast_under_latency", "probe_failure_reopens"},                             // 500 ms deadline: 504 within 1.5 s
	"P5":  {"opens_after_threshold", "single_half_open_probe"},                                                        // open or probing: 503 with Retry-After, no call
	"P6":  {"passthrough_and_errors", "retry_storm"},                                                                  // one call per request, concurrent ones too
	"P7":  {"opens_after_threshold"},                                                                                  // one breaker for every symbol
	"P8":  {"opens_after_threshold", "fail_fast_under_latency", "consecutive_failures_only", "probe_failure_reopens"}, // what counts, what resets
	"P9":  {"opens_after_threshold", "consecutive_failures_only", "retry_storm"},                                      // the 5th opens, no earlier one
	"P10": {"opens_after_threshold", "fail_fast_under_latency", "probe_failure_reopens"},                              // 503 + Retry-After: 1, fast, no call
	"P11": {"opens_after_threshold", "fail_fast_under_latency", "recovers_under_traffic", "single_half_open_probe"},   // 1 s from opening, not restarted
	"P12": {"single_half_open_probe"},                                                                                 // one probe; the others a fast 503 at once
	"P13": {"single_half_open_probe", "recovers_under_traffic", "probe_failure_reopens"},                              // success closes, count 0
	"P14": {"probe_failure_reopens"},                                                                                  // 5xx, deadline, refused probe: reopen a full cooldown
	"P15": {"single_half_open_probe", "probe_failure_reopens"},                                                        // the probe's own answer
	"P16": {"passthrough_and_errors"},                                                                                 // GET /quote?symbol=, URL-encoded
}

func TestEveryPropertyIsChecked(t *testing.T) {
	scenariotest.Properties(t, scenariotest.ReadBrief(t, circuitbreaker.Slug), circuitbreaker.Scenarios(), properties)
}
