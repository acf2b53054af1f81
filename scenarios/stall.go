package scenarios

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"time"
)

// stallPause is how long each of WatchStall's probes waits between two measurements.
const stallPause = 10 * time.Millisecond

// cpuBurst is the CPU time WatchStall's CPU probe asks for every cpuEvery: 5 % of one CPU.
// Measured on a 2-core machine (5 s of bursts beside N busy loops), the share it got: 0.99 alone,
// 0.52 beside 2, 0.29 beside 4, 0.21 beside 8, 0.10 beside 16 — what a task that wants a CPU
// is given. Shorter bursts run on the credit a waking task gets and read too high.
const (
	cpuBurst = 5 * time.Millisecond
	cpuEvery = 100 * time.Millisecond
	// cpuBurstMost bounds one burst's wall time: a burst not done by then counts what it got.
	cpuBurstMost = 500 * time.Millisecond
)

// starvedCPU: a machine that gave the CPU probe less than this share of a CPU was short of CPU
// for work that needs one. Four gradings at a time on two cores (two kill matrices) gave the
// same probe 0.12–0.95 of a CPU in 4 s samples, under half in 10 of 24.
const starvedCPU = 0.5

// Stall is how long the machine stood still, as far as the harness could see, while a scenario
// timed something: the slowest GET /healthz the app answered, the slowest clock the agent told
// (its downstream records the app's calls), and the most the harness's own 10 ms sleeps
// overshot. On a responsive machine each is a few milliseconds. A loaded one stalls the app, the
// agent and the harness, and a time measured across a stall is off by up to the stall: a
// scenario that sees a time outside its tolerance by no more than the stall cannot tell a wrong
// app from a stalled machine, and its round is Inconclusive.
//
// CPU is the other way a machine slows what it runs: not one pause but too little CPU all along.
// It is the share of one CPU the harness was given while it asked for one — a probe on its own
// thread asks for cpuBurst of work every cpuEvery and divides the CPU time it got by the wall
// time that took — about 1 when the machine has a CPU to spare, 0.3 when three tasks wanted
// each CPU; 0 when not measured (the watch ended before a burst, or no thread CPU clock here).
type Stall struct {
	App, Agent, Harness time.Duration
	CPU                 float64
}

// Max is the longest of the three pauses.
func (s Stall) Max() time.Duration { return max(s.App, s.Agent, s.Harness) }

// Grader is the longest pause of the grader's own side, the agent's and the harness's, not the
// app's: for a scenario whose load makes the app slow on purpose.
func (s Stall) Grader() time.Duration { return max(s.Agent, s.Harness) }

// Explains reports whether the machine's stall may alone have made a time bounded by want come
// out as got: got is over want by no more than the longest pause. A scenario that sees that
// cannot tell a wrong app from a stalled machine: its round is Inconclusive. The one rule for a
// time the machine can delay (a timer that fired late, an answer read late).
func (s Stall) Explains(got, want time.Duration) bool { return got-want <= s.Max() }

// Slowed reports whether the machine was short of CPU (the probe got less than starvedCPU of
// one) by enough to make work that needs the CPU take factor times as long: got at full speed
// would have taken got×CPU. For CPU-bound work only (a throughput, a service's knee): a wait on
// a timer does not stretch with the CPU, and Explains judges it.
func (s Stall) Slowed(factor float64) bool {
	return s.CPU > 0 && s.CPU < starvedCPU && factor*s.CPU <= 1
}

func (s Stall) String() string {
	cpu := "the CPU it got asking for one was not measured"
	if s.CPU > 0 {
		cpu = fmt.Sprintf("asking for a CPU, it got %.0f%% of one", 100*s.CPU)
	}
	return fmt.Sprintf("the app's GET /healthz took up to %s, the agent's clock up to %s, the harness's %s sleeps overshot by up to %s; %s",
		s.App.Round(time.Millisecond), s.Agent.Round(time.Millisecond), stallPause, s.Harness.Round(time.Millisecond), cpu)
}

// WatchStall measures the Stall until the func it returns is called, which reports it. The app
// (its first replica) and the agent are each asked again as soon as they answered, after
// stallPause; one still unanswered when the watch stops counts for as long as it waited. These
// requests are the grader's, not the learner's: they are not on the scenario's timeline.
func (h *Harness) WatchStall(ctx context.Context) (stop func() Stall) {
	ctx, cancel := context.WithCancel(ctx)
	var s Stall
	var wg sync.WaitGroup
	// probe keeps the most once measured; each goroutine writes only its own field.
	probe := func(slowest *time.Duration, once func(ctx context.Context) time.Duration) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				*slowest = max(*slowest, once(ctx))
				if !sleepFor(ctx, stallPause) {
					return
				}
			}
		}()
	}
	_, base := h.pick(1)
	timed := func(ask func(ctx context.Context)) func(ctx context.Context) time.Duration {
		return func(ctx context.Context) time.Duration {
			start := time.Now()
			ask(ctx)
			return time.Since(start)
		}
	}
	probe(&s.App, timed(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		h.send(ctx, Request{Path: "/healthz"}, http.MethodGet, base, nil, time.Now())
	}))
	if h.Agent != nil {
		probe(&s.Agent, timed(func(ctx context.Context) { _, _ = h.Agent.Clock(ctx) }))
	}
	probe(&s.Harness, func(ctx context.Context) time.Duration {
		start := time.Now()
		if !sleepFor(ctx, stallPause) {
			return 0
		}
		return time.Since(start) - stallPause
	})
	var got, took time.Duration
	wg.Add(1)
	go func() {
		defer wg.Done()
		got, took = cpuProbe(ctx)
	}()
	return func() Stall {
		cancel()
		wg.Wait()
		if took > 0 {
			s.CPU = min(float64(got)/float64(took), 1)
		}
		return s
	}
}

// cpuProbe asks for cpuBurst of CPU every cpuEvery on its own OS thread until ctx ends, and
// returns the CPU time it got and the wall time that took, over every burst.
func cpuProbe(ctx context.Context) (got, took time.Duration) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for sleepFor(ctx, cpuEvery) {
		c0, ok := threadCPU()
		if !ok {
			return 0, 0
		}
		w0 := time.Now()
		c := c0
		for c-c0 < cpuBurst && time.Since(w0) < cpuBurstMost && ctx.Err() == nil {
			c, _ = threadCPU()
		}
		if ctx.Err() != nil {
			return got, took // a burst cut short by the stop measures the stop
		}
		got += c - c0
		took += time.Since(w0)
	}
	return got, took
}

// sleepFor waits d, or until ctx ends (false).
func sleepFor(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
