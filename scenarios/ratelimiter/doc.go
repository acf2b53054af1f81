// Package ratelimiter holds the scenarios of the rate-limiter challenge: a service whose two
// replicas share one per-client limit through Redis (a fixed window of 10 requests per 2
// seconds, aligned to Unix time), answer 429 with Retry-After and the IETF RateLimit headers
// beyond it, fail closed within a second when Redis is gone, and say they are ready only once
// they have reached Redis. Ground truth is the downstream fake's record of the calls the app
// made for admitted requests, never the app's own answers, and the harness's clock for every
// time bound (the windows' boundaries, the 1 s outage bound, measured from outside with
// nothing added).
//
// The brief numbers the properties it states (P1…); properties_test.go maps each to the
// scenarios that check it.
package ratelimiter
