// Package agent is the in-sandbox helper of a grading run: it hosts the fault proxies in front of
// the sidecars (Toxiproxy as a library), the downstream fakes a challenge talks to (a payment
// provider with a ledger), and a token-protected control API that the harness drives from outside.
//
// The learner's app sees none of this: its DNS names postgres, redis and provider resolve to the
// agent, whose proxies forward to the real sidecars on a network the app cannot reach. The control
// API shares the app's network, so every call but /healthz needs the run's bearer token, which the
// learner never sees.
package agent
