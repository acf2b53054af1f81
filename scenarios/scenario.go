package scenarios

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Visibility says who may see a scenario's details.
type Visibility string

const (
	// Public scenarios are shown to the learner in full.
	Public Visibility = "public"
	// Hidden scenarios run and count, but the learner sees only that a hidden scenario ran.
	Hidden Visibility = "hidden"
	// ReviewerOnly scenarios are shown to reviewers only, never to candidates.
	ReviewerOnly Visibility = "reviewer-only"
)

// Scenario is one behavioural check of a challenge.
type Scenario struct {
	Slug       string
	Title      string
	Weight     int
	Visibility Visibility
	// Timeout bounds Run; past it the scenario fails as not finishing. Default 30 s.
	Timeout time.Duration
	// Disruptive scenarios leave the app in a state later scenarios must not inherit (killed,
	// disconnected, restarted): the harness restarts the app after them.
	Disruptive bool
	// Run drives the app and returns nil, a *Failure (the learner's), an *Inconclusive round
	// (run again), or another error (ours).
	Run func(ctx context.Context, h *Harness) error
}

// Rounds is how many times the harness runs a scenario whose rounds are Inconclusive before
// it gives up with Holdfast's error.
const Rounds = 3

// Inconclusive is a round of a scenario that could not judge the app: the machine was too slow
// for the attack to test what it tests (a signal or a kill delivered too late). The harness
// restarts the app, as after a disruptive scenario, and runs the scenario again; Rounds such
// rounds are Holdfast's error, never a verdict.
type Inconclusive struct {
	Reason string // why this round could not judge, for the operator
}

func (e *Inconclusive) Error() string { return "the round could not judge: " + e.Reason }

// Inconclusivef returns an *Inconclusive round. The reason takes fmt arguments.
func Inconclusivef(format string, args ...any) error {
	return &Inconclusive{Reason: fmt.Sprintf(format, args...)}
}

// Failure is what the learner did wrong, in words a learner can act on.
type Failure struct {
	Expected string `json:"expected"`
	Actual   string `json:"actual"`
	Hint     string `json:"hint,omitempty"`
}

func (f *Failure) Error() string {
	return fmt.Sprintf("expected %s, got %s", f.Expected, f.Actual)
}

// Failf returns a learner-facing failure. The actual text takes fmt arguments.
func Failf(expected, hint, actualFormat string, args ...any) error {
	return &Failure{Expected: expected, Actual: fmt.Sprintf(actualFormat, args...), Hint: hint}
}

// AsFailure reports whether err is the learner's failure rather than the grader's.
func AsFailure(err error) (*Failure, bool) {
	var f *Failure
	ok := errors.As(err, &f)
	return f, ok
}

// AsInconclusive reports whether err is a round that could not judge the app.
func AsInconclusive(err error) (*Inconclusive, bool) {
	var inc *Inconclusive
	ok := errors.As(err, &inc)
	return inc, ok
}

// Verdict is what a scenario's error says about the app: the one reading of it that a grading
// (grading's RunScenario and judge) and a test of a judge share.
type Verdict int

const (
	VerdictPass         Verdict = iota // nil: the app did what the scenario checks
	VerdictFail                        // a *Failure: the learner's, told to them
	VerdictInconclusive                // an *Inconclusive round: run it again, never a verdict
	VerdictError                       // anything else: Holdfast could not judge (ours, not the learner's)
)

// VerdictOf reads a scenario's error. A round that could not judge is Inconclusive even if what
// it wraps mentions a Failure: the grading runs it again rather than judge on it.
func VerdictOf(err error) Verdict {
	if err == nil {
		return VerdictPass
	}
	if _, ok := AsInconclusive(err); ok {
		return VerdictInconclusive
	}
	if _, ok := AsFailure(err); ok {
		return VerdictFail
	}
	return VerdictError
}

// String names a verdict as tests and logs write it: "pass", "fail", "inconclusive", "error".
func (v Verdict) String() string {
	switch v {
	case VerdictPass:
		return "pass"
	case VerdictFail:
		return "fail"
	case VerdictInconclusive:
		return "inconclusive"
	case VerdictError:
		return "error"
	}
	return fmt.Sprintf("Verdict(%d)", int(v))
}

// Validate checks a scenario table for mistakes an author can make.
func Validate(table []Scenario) error {
	seen := map[string]bool{}
	for i, s := range table {
		switch {
		case s.Slug == "" || s.Title == "":
			return fmt.Errorf("scenario %d: slug and title are required", i)
		case seen[s.Slug]:
			return fmt.Errorf("scenario %s: slug used twice", s.Slug)
		case s.Weight <= 0:
			return fmt.Errorf("scenario %s: weight must be positive", s.Slug)
		case s.Run == nil:
			return fmt.Errorf("scenario %s: no Run", s.Slug)
		}
		switch s.Visibility {
		case Public, Hidden, ReviewerOnly:
		default:
			return fmt.Errorf("scenario %s: visibility %q is not public, hidden or reviewer-only", s.Slug, s.Visibility)
		}
		seen[s.Slug] = true
	}
	return nil
}
