// Package metrics is what an operator scrapes: Holdfast's Prometheus metrics and the helpers the
// rest of the code calls to move them.
//
//	holdfast_webhook_duration_seconds{event}              how long the App took to answer a delivery
//	holdfast_webhook_deliveries_total{event,code}          deliveries by event and HTTP answer
//	holdfast_github_requests_total{method,route,status}    calls to GitHub; route has ids, owners and
//	                                                       repositories collapsed ({owner}, {id}, …)
//	holdfast_github_ratelimit_wait_seconds_total           time spent waiting out GitHub's rate limits
//	holdfast_github_ratelimited_total                      rate-limit waits
//	holdfast_jobs{queue,state}                             River jobs, counted at scrape time
//	holdfast_grading_stage_seconds{stage}                  build, provision, start, scenarios
//	holdfast_reconciler_repairs_total{kind}                inconsistencies the reconciler repaired
//	holdfast_deliveries_redelivered_total                  missed webhook deliveries recovered
//
// plus the Go runtime's and the process's collectors. A Set holds one registry; the package-level
// functions use Default, the process's set, which Handler serves: metrics are a process-wide
// concern, and threading a Set through every package that counts something would couple them all
// to the wiring. Tests that need isolated values make their own Set with New.
//
// Every label's values are bounded: unknown webhook events read "other", GitHub paths are
// collapsed to routes, stages and kinds are the callers' constants.
package metrics
