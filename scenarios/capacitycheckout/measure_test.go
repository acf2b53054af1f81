package capacitycheckout

import (
	"net/http"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
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

// TestShedOnStarvedMachine: recovery windows broken only by 503s are the machine's when it gave
// less than half a CPU; latency, timeouts, other statuses, or a machine with a CPU to spare, are
// the service's.
func TestShedOnStarvedMachine(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	ok := &load.Report{Sent: 18, OK: 18, Statuses: map[int]int{http.StatusCreated: 18}, Latency: load.Summary{P99: 200 * ms}}
	// CI, reference-blind: 2 of 18 shed in the last window.
	shed := &load.Report{Sent: 18, OK: 16, Errors: load.Errors{Status: 2}, Statuses: map[int]int{http.StatusCreated: 16, http.StatusServiceUnavailable: 2}, Latency: load.Summary{P99: 300 * ms}}
	bad := &load.Report{Sent: 18, OK: 16, Errors: load.Errors{Status: 2}, Statuses: map[int]int{http.StatusCreated: 16, http.StatusBadGateway: 2}, Latency: load.Summary{P99: 300 * ms}}
	hung := &load.Report{Sent: 18, OK: 16, Errors: load.Errors{Timeout: 2}, Statuses: map[int]int{http.StatusCreated: 16}, Latency: load.Summary{P99: 2 * time.Second}}
	slowShed := &load.Report{Sent: 18, OK: 16, Errors: load.Errors{Status: 2}, Statuses: map[int]int{http.StatusCreated: 16, http.StatusServiceUnavailable: 2}, Latency: load.Summary{P99: SLOP99 + 300*ms}}
	starved := scenarios.Stall{App: 60 * ms, Agent: 30 * ms, Harness: 20 * ms, CPU: 0.3}
	spare := scenarios.Stall{App: 60 * ms, Agent: 30 * ms, Harness: 20 * ms, CPU: 0.9}
	for name, tc := range map[string]struct {
		reps  []*load.Report
		stall scenarios.Stall
		want  bool
	}{
		"503s, starved":                 {[]*load.Report{ok, ok, ok, ok, ok, shed}, starved, true},
		"503s, a CPU to spare":          {[]*load.Report{ok, ok, ok, ok, ok, shed}, spare, false},
		"502s, starved":                 {[]*load.Report{ok, ok, ok, ok, ok, bad}, starved, false},
		"timeouts, starved":             {[]*load.Report{hung, ok, ok, ok, ok, ok}, starved, false},
		"503s late, starved":            {[]*load.Report{ok, ok, ok, ok, ok, slowShed}, starved, false},
		"503s, then 502s, starved":      {[]*load.Report{shed, ok, ok, ok, ok, bad}, starved, false},
		"503s in every window, starved": {[]*load.Report{shed, shed, shed, shed, shed, shed}, starved, true},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := shedOnStarvedMachine(tc.reps, tc.stall); got != tc.want {
				t.Fatalf("shedOnStarvedMachine = %v; want %v", got, tc.want)
			}
		})
	}
}
