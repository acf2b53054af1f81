package ratelimiter_test

import (
	"testing"

	"github.com/holdfast-ci/holdfast/scenarios/ratelimiter"
	"github.com/holdfast-ci/holdfast/scenarios/scenariotest"
)

// properties maps each property the brief numbers (**P1**, …) to the scenarios that check it.
var properties = map[string][]string{
	"P1":  {"ready_only_with_redis"},                                                             // /healthz 503 until Redis first works; no crash
	"P2":  {"redis_outage", "redis_unresponsive"},                                                // /healthz stays 200 while Redis is gone
	"P3":  {"basic_limit"},                                                                       // missing, too long, invalid id: 400, no call
	"P4":  {"basic_limit", "burst_across_replicas", "client_isolation", "recovery_after_window"}, // one GET /work?client= per 200
	"P5":  {"basic_limit", "rejection_headers", "recovery_after_window"},                         // 429 with Retry-After, no call
	"P6":  {"redis_outage", "redis_unresponsive"},                                                // fail closed: 503, Retry-After: 1, within 1 s
	"P7":  {"basic_limit", "rejection_headers", "burst_across_replicas", "client_isolation"},     // 10 per client per 2 s window
	"P8":  {"recovery_after_window"},                                                             // windows aligned to Unix time
	"P9":  {"basic_limit", "burst_across_replicas"},                                              // across both replicas
	"P10": {"burst_across_replicas"},                                                             // simultaneous requests, atomic count
	"P11": {"client_isolation"},                                                                  // clients independent
	"P12": {"rejection_headers"},                                                                 // RateLimit-Policy and RateLimit on 200 and 429
	"P13": {"rejection_headers"},                                                                 // r counts down, 0 on 429
	"P14": {"rejection_headers", "recovery_after_window"},                                        // t: seconds to the aligned window's end
	"P15": {"rejection_headers", "recovery_after_window"},                                        // Retry-After = t, never 0
	"P16": {"recovery_after_window"},                                                             // admitted once Retry-After has passed
	"P17": {"redis_outage", "redis_unresponsive"},                                                // both replicas back within 5 s
}

func TestEveryPropertyIsChecked(t *testing.T) {
	scenariotest.Properties(t, scenariotest.ReadBrief(t, ratelimiter.Slug), ratelimiter.Scenarios(), properties)
}
