package ratelimiter

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
)

// TestLoaded503s: the 503s of a round whose only wrong answers are 503s (TestOnly503s) are the
// machine's only when it stood still at least as long as the slowest 503 took or gave less than
// half a CPU.
func TestLoaded503s(t *testing.T) {
	t.Parallel()
	answers := func(last scenarios.Response) []scenarios.Response {
		rs := []scenarios.Response{{Status: http.StatusOK, Duration: 20 * time.Millisecond}, {Status: http.StatusTooManyRequests, Duration: 30 * time.Millisecond}}
		return append(rs, last)
	}
	slow503 := scenarios.Response{Status: http.StatusServiceUnavailable, Duration: 520 * time.Millisecond}
	stood := scenarios.Stall{App: 600 * time.Millisecond, Agent: 40 * time.Millisecond, Harness: 30 * time.Millisecond, CPU: 0.8}
	starved := scenarios.Stall{App: 90 * time.Millisecond, Agent: 20 * time.Millisecond, Harness: 12 * time.Millisecond, CPU: 0.3}
	idle := scenarios.Stall{App: 8 * time.Millisecond, Agent: 3 * time.Millisecond, Harness: 2 * time.Millisecond, CPU: 0.95}
	for _, c := range []struct {
		name  string
		rs    []scenarios.Response
		stall scenarios.Stall
		want  bool
	}{
		{"503 no later than the machine stood still", answers(slow503), stood, true},
		{"503 on a starved machine", answers(slow503), starved, true},
		{"503 on a responsive machine", answers(slow503), idle, false},
		{"503 later than the stall, CPU to spare", answers(scenarios.Response{Status: http.StatusServiceUnavailable, Duration: 900 * time.Millisecond}), stood, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := loaded503s(c.rs, c.stall) != ""; got != c.want {
				t.Fatalf("explained by the machine: %v; want %v", got, c.want)
			}
		})
	}
}

// TestOnly503s: a round is the Redis step's to explain only when 503s are its only wrong answers
// and it admitted no more than its window(s) allow; allAdmitted only when every answer is a 200.
func TestOnly503s(t *testing.T) {
	t.Parallel()
	ok := scenarios.Response{Status: http.StatusOK}
	limited := scenarios.Response{Status: http.StatusTooManyRequests}
	unavailable := scenarios.Response{Status: http.StatusServiceUnavailable}
	for _, c := range []struct {
		name  string
		rs    []scenarios.Response
		calls int
		fits  bool
		want  bool
	}{
		{"503s within the limit", []scenarios.Response{ok, limited, unavailable}, Limit, true, true},
		{"no 503", []scenarios.Response{ok, limited}, Limit, true, false},
		{"a 500 beside", []scenarios.Response{ok, unavailable, {Status: http.StatusInternalServerError}}, Limit, true, false},
		{"too many admitted", []scenarios.Response{ok, unavailable}, Limit + 1, true, false},
		{"two windows, within them", []scenarios.Response{ok, unavailable}, Limit + 1, false, true},
		{"two windows, over them", []scenarios.Response{ok, unavailable}, 2*Limit + 1, false, false},
		{"no answer beside", []scenarios.Response{ok, unavailable, {Err: errors.New("connection refused")}}, Limit, true, false},
	} {
		if got := only503s(c.rs, c.calls, c.fits); got != c.want {
			t.Errorf("%s: only503s = %v; want %v", c.name, got, c.want)
		}
	}
	if !allAdmitted([]scenarios.Response{ok, ok}) || allAdmitted([]scenarios.Response{ok, unavailable}) || allAdmitted([]scenarios.Response{ok, {Err: errors.New("reset")}}) {
		t.Error("allAdmitted: want true for 200s only")
	}
}
