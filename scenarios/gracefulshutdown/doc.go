// Package gracefulshutdown holds the scenarios of the graceful-shutdown challenge: a transfers
// API that, when SIGTERM arrives with slow requests in flight, finishes every one of them, turns
// /readyz to 503 at once, refuses new work, and exits 0 within the grace period — and whose
// transfers are all or nothing even when the process is SIGKILLed mid-request.
//
// Ground truth is what the harness controls: the signals it sends, the exit code and time the
// sandbox reports, and the rows in the real Postgres sidecar (the brief fixes the schema so the
// harness can check that every transfer has both its ledger lines or none), never the app's own
// answers about itself.
package gracefulshutdown
