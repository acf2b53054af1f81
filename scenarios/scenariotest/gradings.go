package scenariotest

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
)

// GradingsEnv bounds how many sandboxes one test binary (one challenge's package) has at once
// for KillMatrix, Stable and StartersServe together: DefaultGradings unless set. The test
// command runs two packages at a time with the default, four gradings in all, the load its
// timing-sensitive scenarios are proven at; go test's -parallel, which defaults to GOMAXPROCS,
// would put sixteen sandboxes of one package on a 16-core laptop, past Docker's default
// address pools (two networks a sandbox).
const GradingsEnv = "HOLDFAST_GRADINGS"

// DefaultGradings is GradingsEnv's default.
const DefaultGradings = 2

// gradings is the test binary's semaphore, sized once from GradingsEnv: every challenge
// package's tests share it, whichever helper they call.
var gradings = sync.OnceValues(func() (chan struct{}, error) {
	n := DefaultGradings
	if v := os.Getenv(GradingsEnv); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			return nil, fmt.Errorf("%s=%q: want a whole number of gradings at once, 1 or more", GradingsEnv, v)
		}
	}
	return make(chan struct{}, n), nil
})

// Acquire waits for one of the test binary's GradingsEnv sandboxes and returns its release: for
// a kill matrix of its own (refactor's, which compares heads with starters), so that its
// gradings keep to the same bound as KillMatrix's. Safe to call from any goroutine.
func Acquire() (release func(), err error) {
	slots, err := gradings()
	if err != nil {
		return nil, err
	}
	slots <- struct{}{}
	return func() { <-slots }, nil
}

// hold is Acquire for a test's own goroutine: a bad GradingsEnv fails the test.
func hold(t *testing.T) (release func()) {
	t.Helper()
	release, err := Acquire()
	if err != nil {
		t.Fatal(err)
	}
	return release
}
