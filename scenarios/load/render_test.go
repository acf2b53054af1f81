package load

import (
	"testing"
	"time"
)

// A fixed search result renders as the exact table, chart and Mermaid blocks a report shows.
func TestResultRendersTableAndCharts(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	step := func(phase string, rate, achieved float64, p50, p99 time.Duration, errs Errors, sent int) Step {
		rep := Report{Rate: rate, Sent: sent, OK: sent - errs.Total() + errs.Dropped, Errors: errs, Achieved: achieved,
			Latency: Summary{Count: uint64(sent), P50: p50, P90: p50 * 2, P99: p99, Max: p99 + ms}}
		return judge(phase, &rep, SLO{P99: 100 * ms, ErrorBudget: 0.01})
	}
	late := step("step-up", 200, 120, 300*ms, 900*ms, Errors{}, 200)
	late.DriverLate, late.Rerun = true, true
	res := &Result{SLO: SLO{P99: 100 * ms, ErrorBudget: 0.01}, Knee: 150, BrokeAt: 200, Steps: []Step{
		step("step-up", 100, 99.6, 20*ms, 40*ms, Errors{}, 100),
		late,
		step("step-up", 200, 160.2, 150*ms, 450*ms, Errors{Timeout: 3, Dropped: 2}, 198),
		step("refine", 150, 149.1, 25*ms, 90*ms, Errors{Status: 1}, 150),
	}}
	const table = `SLO: p99 ≤ 100.0ms, errors ≤ 1%
step    offered/s achieved/s       p50       p90       p99       max  errors                 SLO
step-up       100        100    20.0ms    40.0ms    40.0ms    41.0ms  0%                     held
step-up       200        120   300.0ms   600.0ms   900.0ms   901.0ms  0%                     BROKEN, driver late, run again
step-up       200        160   150.0ms   300.0ms   450.0ms   451.0ms  2.5% (3 timeout, 2 dropped) BROKEN
refine        150        149    25.0ms    50.0ms    90.0ms    91.0ms  0.67% (1 status)       held
Knee: 150 requests/s held; 200 requests/s broke the SLO.
p99 by offered rate ('|' is the 100.0ms bound; '*' marks a broken step):
      100/s   [########            |                   ] 40.0ms, errors 0%
      150/s   [##################  |                   ] 90.0ms, errors 0.67%
      200/s * [#######################################>] 450.0ms, errors 2.5%
`
	if got := res.Table(); got != table {
		t.Errorf("table:\n%s\nwant:\n%s", got, table)
	}
	const mermaid = "```mermaid\nxychart-beta\n" +
		`    title "p99 latency by offered rate (SLO p99 100.0ms)"
    x-axis "offered rate (requests/s)" [100, 150, 200]
    y-axis "p99 (ms)" 0 --> 495
    line [40.00, 90.00, 450.00]
    line [100.00, 100.00, 100.00]
` + "```\n```mermaid\nxychart-beta\n" + `    title "errors by offered rate (budget 1%)"
    x-axis "offered rate (requests/s)" [100, 150, 200]
    y-axis "errors (%)" 0 --> 2.8
    bar [0.00, 0.67, 2.50]
` + "```\n"
	if got := res.Mermaid(); got != mermaid {
		t.Errorf("mermaid:\n%s\nwant:\n%s", got, mermaid)
	}
	for _, tc := range []struct {
		res  Result
		want string
	}{
		{Result{Knee: 500, Steps: []Step{{}}}, "Knee: at least 500 requests/s: the SLO held at every rate tried."},
		{Result{BrokeAt: 50, Steps: []Step{{}}}, "Knee: below 50 requests/s: the SLO broke at the first rate tried."},
		{Result{}, "No step ran."},
	} {
		if got := tc.res.Summary(); got != tc.want {
			t.Errorf("summary %q, want %q", got, tc.want)
		}
	}
}
