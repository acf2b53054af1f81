package capacitycheckout

import (
	"net/http"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios/load"
)

// TestSaturated: the resource a broken step blames follows the brief's rules, from the samples
// of pg_stat_activity taken during the step only.
func TestSaturated(t *testing.T) {
	t.Parallel()
	start := time.Now()
	looks := func(open, busy int) []sample {
		var ss []sample
		for i := range 20 {
			ss = append(ss, sample{at: start.Add(time.Duration(i) * 50 * time.Millisecond), open: open, busy: busy})
		}
		// Outside the step: ignored.
		return append(ss, sample{at: start.Add(-time.Second), open: 8, busy: 0}, sample{at: start.Add(2 * stepDuration), open: 40, busy: 40})
	}
	step := func(shed, failed int) load.Step {
		st := load.Step{Report: load.Report{Rate: 101, Statuses: map[int]int{http.StatusServiceUnavailable: shed}}}
		st.Errors.Status = failed
		return st
	}
	for name, tc := range map[string]struct {
		step    load.Step
		samples []sample
		want    string
	}{
		"pool held across the charge": {step(30, 30), looks(8, 7), ResourcePostgres},
		"pool mostly idle, 503s":      {step(30, 30), looks(8, 2), ResourceAppLimit},
		"past the cap, 503s":          {step(30, 30), looks(24, 24), ResourceAppLimit},
		"slow, no 503s":               {step(0, 0), looks(8, 1), ResourceAppCPU},
		"timeouts, few 503s":          {step(3, 30), looks(8, 1), ResourceAppCPU},
		"no connections seen":         {step(0, 0), nil, ResourceAppCPU},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got, why := saturated(tc.step, tc.samples, start); got != tc.want {
				t.Fatalf("saturated = %s (%s); want %s", got, why, tc.want)
			}
		})
	}
}

// TestRecovery: the service is back once the last window that broke the SLO ends; a window's p99
// may exceed the bound by the stall measured meanwhile, and errors count whatever the stall.
func TestRecovery(t *testing.T) {
	t.Parallel()
	ok := &load.Report{Sent: 20, OK: 20, Latency: load.Summary{P99: 200 * time.Millisecond}}
	slow := &load.Report{Sent: 20, OK: 20, Latency: load.Summary{P99: SLOP99 + 100*time.Millisecond}}
	failing := &load.Report{Sent: 20, OK: 15, Errors: load.Errors{Status: 5}, Latency: load.Summary{P99: 200 * time.Millisecond}}
	for name, tc := range map[string]struct {
		reps  []*load.Report
		stall time.Duration
		took  time.Duration
		back  bool
	}{
		"never broke":             {[]*load.Report{ok, ok, ok}, 0, 0, true},
		"two slow windows":        {[]*load.Report{slow, slow, ok, ok}, 0, 2 * window, true},
		"slow by less than stall": {[]*load.Report{slow, ok, ok}, 150 * time.Millisecond, 0, true},
		"errors despite a stall":  {[]*load.Report{failing, ok}, time.Second, window, true},
		"still broken at the end": {[]*load.Report{ok, slow}, 0, 2 * window, false},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			took, back, _ := recovery(tc.reps, window, tc.stall)
			if took != tc.took || back != tc.back {
				t.Fatalf("recovery = %s, %v; want %s, %v", took, back, tc.took, tc.back)
			}
		})
	}
}
