// Package circuitbreaker holds the scenarios of the circuit-breaker challenge: a quote API in
// front of a downstream service that fails, slows down, hangs or refuses connections, which must
// stop calling it after five consecutive failures of any symbols, answer fast while open, let
// exactly one probe through after the cooldown, close again when the probe succeeds and reopen
// for a full cooldown when it fails in any way. Ground truth is the downstream fake's record of
// calls (when each started and ended, with its raw query) and the answers' timings measured by
// the harness, never what the app says about its breaker.
//
// The breaker's state lives in the app and survives between scenarios (the agent is reset, the
// app is not restarted), so every scenario first makes sure the breaker is closed: it waits out
// a cooldown and lets a probe close it, which costs about a second after a scenario that left it
// open. probe_failure_reopens runs last: a breaker that a failed probe leaves stuck half-open
// would fail every later scenario for that one mistake.
//
// The brief numbers the properties it states (P1…); properties_test.go maps each to the
// scenarios that check it.
package circuitbreaker
