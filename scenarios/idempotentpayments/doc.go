// Package idempotentpayments holds the scenarios of the idempotent-payments challenge: a payments
// API that must charge a customer exactly once per idempotency key, whatever the network, the
// provider, the database or the process does meanwhile. Ground truth is the provider fake's
// ledger in the sandbox agent, never the app's own answers.
package idempotentpayments
