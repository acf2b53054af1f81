// Package agent is the in-sandbox helper of a grading run: it hosts the fault proxies in front of
// the sidecars (Toxiproxy as a library), the downstream fakes a challenge talks to (a payment
// provider with a ledger), and a token-protected control API that the harness drives from outside.
//
// The learner's app sees none of this: its DNS names postgres, redis and provider resolve to the
// agent, whose proxies forward to the real sidecars on a network the app cannot reach. The control
// API shares the app's network, so every call but /healthz needs the run's bearer token, which the
// learner never sees. The fakes themselves listen on the agent's loopback only: the app reaches
// them through their links, so it cannot step around an injected fault.
//
// The app is untrusted, and the fakes bound what they keep (bound.go): key and id sizes, bodies,
// entries and bytes in all. Beyond a bound the app gets an error answer and the fake records an
// Overflow; until the next reset every observation (the ledger, the downstream's calls) fails
// with an *OverflowError, which the grader reports as the learner's failure, in words.
package agent
