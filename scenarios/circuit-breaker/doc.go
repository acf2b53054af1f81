// Package circuitbreaker holds the scenarios of the circuit-breaker challenge: a quote API in
// front of a downstream service that fails or slows down, which must stop calling it after five
// consecutive failures, answer fast while open, let exactly one probe through after the cooldown
// and close again when the probe succeeds. Ground truth is the downstream fake's record of calls
// (when each started and ended) and the answers' timings measured by the harness, never what
// the app says about its breaker.
//
// The breaker's state lives in the app and survives between scenarios (the agent is reset, the
// app is not restarted), so every scenario first makes sure the breaker is closed: it waits out
// a cooldown and lets a probe close it, which costs about a second after a scenario that left it
// open.
package circuitbreaker
