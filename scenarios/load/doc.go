// Package load drives an HTTP service at a constant arrival rate and finds the rate it can hold:
// the foundation of the capacity format (issue 17).
//
// The driver is open-loop: request i is due at start + i/rate and is sent then, whatever the
// answers to the earlier ones are doing, and its latency is measured from that intended moment.
// A closed-loop tool (wrk, ab, a pool of workers each waiting for its answer) sends nothing while
// the service stalls, so a one-second stall costs it one slow sample instead of the hundreds of
// requests real users would have sent meanwhile: coordinated omission. Here those requests are
// due on schedule and each one's wait counts.
//
// Run drives one rate for a bounded time and count; Search steps the rate up until an SLO (a p99
// bound and an error budget) breaks and reports the knee, the highest rate held, with every step
// as a row (Result.Table, Result.Mermaid). The driver only reaches loopback and private addresses
// (the grading machine's own services and the sandboxes' networks).
//
// `go run ./scenarios/load/bench` measures the driver itself against wrk on a bare net/http
// server (README, Benchmarks).
package load
