package compare

import (
	"context"
	"fmt"
	"regexp"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/scenarios"
)

// Result is the comparison of a pull request's base and head.
type Result struct {
	Challenge string `json:"challenge"`
	// Status is Passed when no scenario's behaviour changed, Failed when some did; the head's
	// BuildFailed, Crashed or TimedOut when the head could not be judged; GraderError when
	// either side's grading failed on Holdfast's side.
	Status grading.Status `json:"status"`
	// Score is the weighted share of scenarios whose behaviour did not change, 0–100.
	Score   int    `json:"score"`
	Message string `json:"message,omitempty"`
	// Scenarios pairs each scenario's base and head results, in the table's order.
	Scenarios []Diff `json:"scenarios"`
	// Base and Head are the two gradings in full.
	Base grading.Verdict `json:"base"`
	Head grading.Verdict `json:"head"`
	// Quality holds the measurements of both trees, or nil when they were not measured.
	Quality *Quality `json:"quality,omitempty"`
}

// Diff is one scenario on both sides.
type Diff struct {
	Slug       string               `json:"slug"`
	Title      string               `json:"title"`
	Visibility scenarios.Visibility `json:"visibility"`
	Weight     int                  `json:"weight"`
	// Changed says the scenario behaved differently on the head than on the base.
	Changed bool `json:"changed"`
	// Withheld stands for a hidden scenario in the learner's view: it counts in the score, but
	// whether it changed is not shown.
	Withheld bool                   `json:"withheld,omitempty"`
	Base     grading.ScenarioResult `json:"base"`
	Head     grading.ScenarioResult `json:"head"`
}

// Before and After describe each side's result in a phrase, for "behaviour changed: before …
// after …".
func (d Diff) Before() string { return describe(d.Base) }

// After describes the head's result; see Before.
func (d Diff) After() string { return describe(d.Head) }

func describe(r grading.ScenarioResult) string {
	switch r.Outcome {
	case grading.OutcomePassed:
		return "passed"
	case grading.OutcomeFailed:
		if r.Failure == nil {
			return "failed"
		}
		return fmt.Sprintf("failed (expected %s; actual %s)", r.Failure.Expected, r.Failure.Actual)
	case grading.OutcomeNotRun:
		return "did not run"
	case grading.OutcomeError:
		return "could not be judged (grader error)"
	}
	return string(r.Outcome)
}

// Judge compares two gradings of the same challenge. It is pure: the gradings may come from
// Comparer, from two River jobs, or from storage.
func Judge(base, head grading.Verdict) Result {
	res := Result{Challenge: head.Challenge, Base: base, Head: head}
	if res.Challenge == "" {
		res.Challenge = base.Challenge
	}
	baseBy := map[string]grading.ScenarioResult{}
	for _, r := range base.Scenarios {
		baseBy[r.Slug] = r
	}
	seen := map[string]bool{}
	add := func(b, h grading.ScenarioResult) {
		meta := h
		if meta.Slug == "" {
			meta = b
		}
		res.Scenarios = append(res.Scenarios, Diff{Slug: meta.Slug, Title: meta.Title, Visibility: meta.Visibility,
			Weight: meta.Weight, Changed: !Same(b, h), Base: b, Head: h})
	}
	for _, h := range head.Scenarios {
		b, ok := baseBy[h.Slug]
		if !ok {
			b = grading.ScenarioResult{Slug: h.Slug, Title: h.Title, Visibility: h.Visibility, Weight: h.Weight, Outcome: grading.OutcomeNotRun}
		}
		seen[h.Slug] = true
		add(b, h)
	}
	for _, b := range base.Scenarios {
		if !seen[b.Slug] {
			add(b, grading.ScenarioResult{Slug: b.Slug, Title: b.Title, Visibility: b.Visibility, Weight: b.Weight, Outcome: grading.OutcomeNotRun})
		}
	}

	var total, kept, changed int
	for _, d := range res.Scenarios {
		total += d.Weight
		if d.Changed {
			changed++
		} else {
			kept += d.Weight
		}
	}
	if total > 0 {
		res.Score = kept * 100 / total
	}
	switch {
	case base.Status == grading.GraderError || head.Status == grading.GraderError:
		res.Status, res.Score = grading.GraderError, 0
		res.Message = "Holdfast could not finish grading one side of the comparison. This is not your code's fault."
	case head.Status == grading.BuildFailed || head.Status == grading.Crashed || head.Status == grading.TimedOut:
		res.Status, res.Score = head.Status, 0
		res.Message = "The pull request's head could not be compared: " + head.Message
	case changed > 0:
		// No counts here: the message is shown to learners as is, and hidden scenarios' changes
		// are theirs to find. Title counts the visible ones.
		res.Status = grading.Failed
		res.Message = "Behaviour changed. A refactor keeps every observable behaviour: status codes, bodies, ordering, rounding, calls to other services."
	default:
		res.Status = grading.Passed
		res.Message = "No behaviour changed: every scenario behaves on the head exactly as on the base."
	}
	if base.Status != grading.Passed && base.Status != grading.Failed && base.Status != grading.GraderError {
		res.Message += " Note: the base itself did not run (" + string(base.Status) + ": " + base.Message + "); a refactor is compared against a working base."
	}
	return res
}

// Same reports whether two results of one scenario show the same behaviour: the same outcome
// and, for failures, the same expectation and the same actual behaviour once the parts that
// differ between any two runs (durations, addresses, generated ids) are masked.
func Same(a, b grading.ScenarioResult) bool {
	if a.Outcome != b.Outcome {
		return false
	}
	if a.Outcome != grading.OutcomeFailed {
		return true
	}
	if (a.Failure == nil) != (b.Failure == nil) {
		return false
	}
	if a.Failure == nil {
		return true
	}
	return a.Failure.Expected == b.Failure.Expected && Mask(a.Failure.Actual) == Mask(b.Failure.Actual)
}

// masks are applied in order: addresses before durations, so "10.0.0.5:3000" is not read as
// numbers, and ids before durations, so "4ms" inside a hex id stays part of the id.
var masks = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\b\d{1,3}(\.\d{1,3}){3}(:\d+)?\b`), "<addr>"},
	{regexp.MustCompile(`(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`), "<id>"},
	{regexp.MustCompile(`(?i)[0-9a-f]{8,}`), "<id>"},
	{regexp.MustCompile(`\b\d+(\.\d+)?(ns|µs|us|ms|s|m|h)\b`), "<duration>"},
}

// Mask replaces what differs between two runs of the same behaviour: IP addresses and ports,
// UUIDs, hex runs of 8 or more characters (generated ids) and durations.
func Mask(s string) string {
	for _, m := range masks {
		s = m.re.ReplaceAllString(s, m.with)
	}
	return s
}

// Comparer grades a base and a head with one Grader, one after the other: two sandboxes at once
// would share the machine's cores and blur what the scenarios time.
type Comparer struct {
	Grader *grading.Grader
}

// Side names which tree an event or a measurement is about.
type Side string

const (
	Base Side = "base"
	Head Side = "head"
)

// Compare grades baseDir and then headDir with the challenge's scenarios, measures both trees and
// judges the difference. It returns an error only when Holdfast failed.
func (c *Comparer) Compare(ctx context.Context, ch grading.Challenge, baseDir, headDir string, progress func(Side, grading.Event)) (Result, error) {
	if progress == nil {
		progress = func(Side, grading.Event) {}
	}
	var vs [2]grading.Verdict
	for i, side := range []Side{Base, Head} {
		dir := baseDir
		if side == Head {
			dir = headDir
		}
		v, err := c.Grader.Grade(ctx, ch, dir, func(e grading.Event) { progress(side, e) })
		if err != nil {
			return Result{}, fmt.Errorf("grade the %s (%s): %w", side, dir, err)
		}
		vs[i] = v
	}
	res := Judge(vs[0], vs[1])
	q, err := MeasureBoth(baseDir, headDir)
	if err != nil {
		return res, err
	}
	res.Quality = q
	return res, nil
}

// MeasureBoth measures the base and head trees.
func MeasureBoth(baseDir, headDir string) (*Quality, error) {
	b, err := Measure(baseDir)
	if err != nil {
		return nil, fmt.Errorf("measure the base: %w", err)
	}
	h, err := Measure(headDir)
	if err != nil {
		return nil, fmt.Errorf("measure the head: %w", err)
	}
	return &Quality{Base: b, Head: h}, nil
}

// ForView returns the result as an audience may see it, with the same rules as
// grading.ForView: for learners, hidden scenarios count but their names and whether they
// changed are withheld, and reviewer-only scenarios are left out.
func ForView(r Result, view grading.View) Result {
	out := r
	out.Base = grading.ForView(r.Base, view)
	out.Head = grading.ForView(r.Head, view)
	if view == grading.ReviewerView {
		return out
	}
	out.Scenarios = nil
	for _, d := range r.Scenarios {
		switch d.Visibility {
		case scenarios.ReviewerOnly:
			continue
		case scenarios.Hidden:
			out.Scenarios = append(out.Scenarios, Diff{Slug: "hidden", Title: "Hidden scenario", Visibility: scenarios.Hidden,
				Weight: d.Weight, Withheld: true})
		default:
			d.Base.Error, d.Head.Error = "", ""
			out.Scenarios = append(out.Scenarios, d)
		}
	}
	return out
}

// changedCount counts the visible changed scenarios.
func changedCount(r Result) (changed, withheld int) {
	for _, d := range r.Scenarios {
		switch {
		case d.Withheld:
			withheld++
		case d.Changed:
			changed++
		}
	}
	return changed, withheld
}
