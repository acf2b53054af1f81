// Package ratelimiter holds the scenarios of the rate-limiter challenge: a service whose two
// replicas share one per-client limit through Redis (a fixed window of 10 requests per 2
// seconds), answer 429 with Retry-After and the IETF RateLimit headers beyond it, and fail
// closed when Redis is gone. Ground truth is the downstream fake's record of the calls the
// app made for admitted requests, never the app's own answers.
package ratelimiter
