package load

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// fmtDur prints a latency with three significant figures: 812µs, 12.4ms, 1.02s.
func fmtDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

func fmtPct(f float64) string {
	if f == 0 {
		return "0%"
	}
	return fmt.Sprintf("%.2g%%", 100*f)
}

// Table renders the search as text for a report: a row per step in the order run (offered rate,
// achieved rate, p50, p90, p99, max, errors, the SLO's verdict), the knee, and a bar chart of p99
// by offered rate against the bound.
func (r *Result) Table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "SLO: %s\n", r.SLO)
	fmt.Fprintf(&b, "%-7s %9s %10s %9s %9s %9s %9s  %-22s %s\n", "step", "offered/s", "achieved/s", "p50", "p90", "p99", "max", "errors", "SLO")
	for _, s := range r.Steps {
		errs := fmtPct(s.ErrorRate())
		if s.Errors.Total() > 0 {
			errs += " (" + s.Errors.String() + ")"
		}
		verdict := "held"
		if !s.Held {
			verdict = "BROKEN"
		}
		if s.DriverLate {
			verdict += ", driver late"
		}
		if s.Rerun {
			verdict += ", run again"
		}
		fmt.Fprintf(&b, "%-7s %9.0f %10.0f %9s %9s %9s %9s  %-22s %s\n", s.Phase, s.Rate, s.Achieved,
			fmtDur(s.Latency.P50), fmtDur(s.Latency.P90), fmtDur(s.Latency.P99), fmtDur(s.Latency.Max), errs, verdict)
	}
	fmt.Fprintln(&b, r.Summary())
	b.WriteString(r.chart())
	return b.String()
}

// Summary is the knee in one sentence.
func (r *Result) Summary() string {
	switch {
	case len(r.Steps) == 0:
		return "No step ran."
	case r.BrokeAt == 0:
		return fmt.Sprintf("Knee: at least %.0f requests/s: the SLO held at every rate tried.", r.Knee)
	case r.Knee == 0:
		return fmt.Sprintf("Knee: below %.0f requests/s: the SLO broke at the first rate tried.", r.BrokeAt)
	}
	return fmt.Sprintf("Knee: %.0f requests/s held; %.0f requests/s broke the SLO.", r.Knee, r.BrokeAt)
}

// byRate is the steps that count (not the attempts run again) sorted by offered rate, for
// charts.
func (r *Result) byRate() []Step {
	s := slices.DeleteFunc(slices.Clone(r.Steps), func(s Step) bool { return s.Rerun })
	slices.SortStableFunc(s, func(a, b Step) int { return cmp.Compare(a.Rate, b.Rate) })
	return s
}

// chart draws p99 per offered rate as ASCII bars on a scale of twice the bound; the bound is the
// '|' in the middle, and a bar that runs past the scale ends in '>'.
func (r *Result) chart() string {
	const width = 40
	var b strings.Builder
	fmt.Fprintf(&b, "p99 by offered rate ('|' is the %s bound; '*' marks a broken step):\n", fmtDur(r.SLO.P99))
	scale := 2 * r.SLO.P99
	for _, s := range r.byRate() {
		n := int(float64(s.Latency.P99) / float64(scale) * width)
		bar := []byte(strings.Repeat(" ", width))
		for i := 0; i < min(n, width); i++ {
			bar[i] = '#'
		}
		if bar[width/2] == ' ' {
			bar[width/2] = '|'
		}
		if n > width {
			bar[width-1] = '>'
		}
		mark := " "
		if !s.Held {
			mark = "*"
		}
		fmt.Fprintf(&b, "%9.0f/s %s [%s] %s, errors %s\n", s.Rate, mark, bar, fmtDur(s.Latency.P99), fmtPct(s.ErrorRate()))
	}
	return b.String()
}

// Mermaid renders the search as two Mermaid xychart-beta blocks, for Markdown reports: p99 (ms)
// by offered rate with the bound as a second line, and the error share (%) by offered rate.
func (r *Result) Mermaid() string {
	steps := r.byRate()
	var xs, p99s, bound, errs []string
	top := r.SLO.P99.Seconds() * 1000 * 1.5
	topErr := 100 * r.SLO.ErrorBudget * 2
	for _, s := range steps {
		ms := s.Latency.P99.Seconds() * 1000
		xs = append(xs, fmt.Sprintf("%.0f", s.Rate))
		p99s = append(p99s, fmt.Sprintf("%.2f", ms))
		bound = append(bound, fmt.Sprintf("%.2f", r.SLO.P99.Seconds()*1000))
		errs = append(errs, fmt.Sprintf("%.2f", 100*s.ErrorRate()))
		top = max(top, ms)
		topErr = max(topErr, 100*s.ErrorRate())
	}
	topErr = max(topErr, 1)
	x := "[" + strings.Join(xs, ", ") + "]"
	var b strings.Builder
	fmt.Fprintf(&b, "```mermaid\nxychart-beta\n    title \"p99 latency by offered rate (SLO p99 %s)\"\n", fmtDur(r.SLO.P99))
	fmt.Fprintf(&b, "    x-axis \"offered rate (requests/s)\" %s\n    y-axis \"p99 (ms)\" 0 --> %.0f\n", x, top*1.1)
	fmt.Fprintf(&b, "    line [%s]\n    line [%s]\n```\n", strings.Join(p99s, ", "), strings.Join(bound, ", "))
	fmt.Fprintf(&b, "```mermaid\nxychart-beta\n    title \"errors by offered rate (budget %s)\"\n", fmtPct(r.SLO.ErrorBudget))
	fmt.Fprintf(&b, "    x-axis \"offered rate (requests/s)\" %s\n    y-axis \"errors (%%)\" 0 --> %.1f\n", x, topErr*1.1)
	fmt.Fprintf(&b, "    bar [%s]\n```\n", strings.Join(errs, ", "))
	return b.String()
}
