// Package loadshedding holds the scenarios of the load-shedding challenge: a work API in front of
// a slow downstream, which must admit at most four requests at once, answer every other one at
// once with 503 and Retry-After (after a wait of 100 ms at most, never a queue), keep answering
// its health checks while saturated, do each admitted request's work exactly once, give every
// permit back whatever the downstream did, and serve again as soon as a permit is free. Ground
// truth is the downstream fake's record of calls (when each started and ended, so how many were in
// flight at every moment, and the id each carried) and the harness's own clocks, never what the
// app says about its limiter.
//
// The app is not restarted between scenarios: each starts by waiting until a request is served
// (settle), which a limiter that lost its permits never does. permits_released_on_failures runs
// last, for that reason.
//
// The brief numbers the properties it states (P1…); properties_test.go maps each to the
// scenarios that check it.
package loadshedding
