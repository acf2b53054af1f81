package load

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// SLO is what a rate must meet to count as held.
type SLO struct {
	// P99 bounds the 99th percentile latency (measured from each request's intended start), > 0.
	P99 time.Duration
	// ErrorBudget is the share of requests that may fail (Errors, dropped included), 0 ≤ b < 1:
	// 0.01 allows 1 %.
	ErrorBudget float64
}

func (s SLO) String() string {
	return fmt.Sprintf("p99 ≤ %s, errors ≤ %s", fmtDur(s.P99), fmtPct(s.ErrorBudget))
}

// SearchConfig is a step-up search for the knee.
type SearchConfig struct {
	// Load is every step's run: its Target, Request or Build, Duration (each step's length),
	// MaxRequests, Timeout and MaxInFlight apply to each step; its Rate is ignored.
	Load Config
	SLO  SLO
	// Start is the first step's rate (requests per second), > 0.
	Start float64
	// Factor multiplies the rate after each step held (default 1.5; > 1, ≤ 4).
	Factor float64
	// MaxRate is the highest rate tried (default 100 × Start, at most the driver's MaxRate): a
	// service that holds it is reported as holding at least that.
	MaxRate float64
	// Refine is how many bisection steps are run between the last rate held and the first broken
	// one once the SLO breaks (default 2; -1 for none; at most 8). Each halves the uncertainty.
	Refine int
	// Pause is the rest between steps, so that one step's backlog does not spill into the next
	// (default 250 ms; at most 10 s).
	Pause time.Duration
	// Retries is how many times a step that broke the SLO while the driver itself was late
	// (Step.DriverLate: on a shared machine the generator was not scheduled) is run again before
	// its break is believed (default 1; -1 for none; at most 3). Every attempt stays a row.
	Retries int
}

// Step is one rate tried: its run's report and the SLO's verdict on it.
type Step struct {
	Phase string // "step-up" or "refine"
	Report
	Held bool
	// Why says what broke the SLO (or that it held), with the numbers.
	Why string
	// DriverLate is set when the driver itself sent late (lag p99 above a quarter of the p99
	// bound): this step measured the generator as much as the service.
	DriverLate bool
	// Rerun is set on an attempt that broke while the driver was late and was run again
	// (SearchConfig.Retries); the attempt after it counts instead.
	Rerun bool
}

// Result is a search's outcome.
type Result struct {
	SLO   SLO
	Steps []Step
	// Knee is the highest rate held (0 when even Start broke the SLO).
	Knee float64
	// BrokeAt is the lowest rate seen to break the SLO (0 when none did: the service held up to
	// MaxRate and its knee is at least that).
	BrokeAt float64
}

// Search steps the rate up from Start, multiplying it by Factor while the SLO holds, then bisects
// between the last rate held and the first broken one Refine times, and reports the knee. Every
// step is bounded (Load's Duration and Timeout, plus Pause) and so is the number of steps
// (MaxRate, Refine). Its error is for a bad config or ctx ending; the service's behaviour is in
// the Result.
func Search(ctx context.Context, cfg SearchConfig) (*Result, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	res := &Result{SLO: cfg.SLO}
	try := func(phase string, rate float64) (bool, error) {
		lc := cfg.Load
		lc.Rate = rate
		var st Step
		for attempt := 0; ; attempt++ {
			if attempt > 0 {
				res.Steps[len(res.Steps)-1].Rerun = true
			}
			if len(res.Steps) > 0 { // rest after every run, a re-run's included
				select {
				case <-ctx.Done():
					return false, fmt.Errorf("load: search stopped before %.0f requests/s: %w", rate, ctx.Err())
				case <-time.After(cfg.Pause):
				}
			}
			rep, err := Run(ctx, lc)
			if err != nil {
				return false, fmt.Errorf("load: search step at %.0f requests/s: %w", rate, err)
			}
			if ctx.Err() != nil {
				return false, fmt.Errorf("load: search stopped during %.0f requests/s: %w", rate, ctx.Err())
			}
			st = judge(phase, rep, cfg.SLO)
			res.Steps = append(res.Steps, st)
			if st.Held || !st.DriverLate || attempt >= cfg.Retries {
				break
			}
		}
		if st.Held {
			res.Knee = max(res.Knee, rate)
		} else if res.BrokeAt == 0 || rate < res.BrokeAt {
			res.BrokeAt = rate
		}
		return st.Held, nil
	}
	for rate := cfg.Start; ; rate = min(rate*cfg.Factor, cfg.MaxRate) {
		held, err := try("step-up", rate)
		if err != nil {
			return res, err
		}
		if !held || rate >= cfg.MaxRate {
			break
		}
	}
	if res.BrokeAt == 0 || res.Knee == 0 {
		return res, nil // held to the maximum, or broke at once: nothing to bisect
	}
	for range cfg.Refine {
		if _, err := try("refine", (res.Knee+res.BrokeAt)/2); err != nil {
			return res, err
		}
	}
	return res, nil
}

func (cfg *SearchConfig) validate() error {
	if cfg.Factor == 0 {
		cfg.Factor = 1.5
	}
	if cfg.MaxRate == 0 {
		cfg.MaxRate = min(100*cfg.Start, MaxRate)
	}
	switch cfg.Refine {
	case 0:
		cfg.Refine = 2
	case -1:
		cfg.Refine = 0
	}
	if cfg.Pause == 0 {
		cfg.Pause = 250 * time.Millisecond
	}
	switch cfg.Retries {
	case 0:
		cfg.Retries = 1
	case -1:
		cfg.Retries = 0
	}
	switch {
	case cfg.SLO.P99 <= 0:
		return fmt.Errorf("load: the SLO needs a p99 bound above 0, not %v", cfg.SLO.P99)
	case !(cfg.SLO.ErrorBudget >= 0 && cfg.SLO.ErrorBudget < 1):
		return fmt.Errorf("load: the error budget %v is a share of requests: give one from 0 up to (not including) 1", cfg.SLO.ErrorBudget)
	case !(cfg.Start > 0):
		return fmt.Errorf("load: the search needs a start rate above 0, not %v", cfg.Start)
	case !(cfg.Factor > 1 && cfg.Factor <= 4):
		return fmt.Errorf("load: the step factor %v must be above 1 and at most 4", cfg.Factor)
	case !(cfg.MaxRate >= cfg.Start && cfg.MaxRate <= MaxRate):
		return fmt.Errorf("load: the maximum rate %v must be at least the start rate %v and at most %d", cfg.MaxRate, cfg.Start, MaxRate)
	case cfg.Refine < 0 || cfg.Refine > 8:
		return fmt.Errorf("load: refine %d is out of range: give 0 (default 2), -1 for none, or up to 8", cfg.Refine)
	case cfg.Retries < 0 || cfg.Retries > 3:
		return fmt.Errorf("load: retries %d is out of range: give 0 (default 1), -1 for none, or up to 3", cfg.Retries)
	case cfg.Pause < 0 || cfg.Pause > 10*time.Second:
		return fmt.Errorf("load: the pause between steps %v must be from 0 to 10s", cfg.Pause)
	}
	// Check the load config once here, so a bad target fails before the first step.
	lc := cfg.Load
	lc.Rate = cfg.Start
	_, err := lc.validate()
	return err
}

// judge applies the SLO to one step's report.
func judge(phase string, rep *Report, slo SLO) Step {
	st := Step{Phase: phase, Report: *rep, DriverLate: rep.Lag.P99 > slo.P99/4}
	rate := rep.ErrorRate()
	var broken []string
	if rep.Latency.Count == 0 && rep.Errors.Total() == 0 {
		broken = append(broken, "nothing was sent")
	}
	if rep.Latency.P99 > slo.P99 {
		broken = append(broken, fmt.Sprintf("p99 %s > %s", fmtDur(rep.Latency.P99), fmtDur(slo.P99)))
	}
	if rate > slo.ErrorBudget {
		broken = append(broken, fmt.Sprintf("errors %s > %s (%s)", fmtPct(rate), fmtPct(slo.ErrorBudget), rep.Errors))
	}
	st.Held = len(broken) == 0
	if st.Held {
		st.Why = fmt.Sprintf("held: p99 %s, errors %s", fmtDur(rep.Latency.P99), fmtPct(rate))
	} else {
		st.Why = "broken: " + strings.Join(broken, "; ")
	}
	if st.DriverLate {
		st.Why += fmt.Sprintf("; the driver sent late (lag p99 %s)", fmtDur(rep.Lag.P99))
	}
	return st
}
