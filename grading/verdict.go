package grading

import (
	"encoding/json"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
)

// Status is the overall outcome of one grading.
type Status string

const (
	Passed      Status = "passed"       // every scenario passed
	Failed      Status = "failed"       // scenarios ran, some failed
	BuildFailed Status = "build_failed" // the learner's image did not build
	Crashed     Status = "crashed"      // the app never became healthy, or died
	TimedOut    Status = "timed_out"    // the hard cap on build + run passed
	GraderError Status = "grader_error" // Holdfast failed; not the learner's doing
)

// Outcome is one scenario's result.
type Outcome string

const (
	OutcomePassed Outcome = "passed"
	OutcomeFailed Outcome = "failed"
	// OutcomeError means the scenario could not judge: the grader's infrastructure failed.
	OutcomeError Outcome = "error"
	// OutcomeNotRun means the grading stopped (hard cap, crash) before the scenario's turn.
	OutcomeNotRun Outcome = "not_run"
	// OutcomeWithheld stands for a hidden scenario's outcome in the learner's view: it counts in
	// the score, but which way it went is not shown.
	OutcomeWithheld Outcome = "withheld"
)

// ScenarioResult is the record of one scenario in one grading.
type ScenarioResult struct {
	Slug       string               `json:"slug"`
	Title      string               `json:"title"`
	Visibility scenarios.Visibility `json:"visibility"`
	Weight     int                  `json:"weight"`
	Outcome    Outcome              `json:"outcome"`
	Duration   Millis               `json:"duration_ms"`
	Failure    *scenarios.Failure   `json:"failure,omitempty"`
	// LogTail is the app's output during this scenario, kept when it failed.
	LogTail string `json:"log_tail,omitempty"`
	// Timeline is what happened during the scenario (timeline.go), kept only when it failed and
	// is public: a hidden scenario's requests would give it away.
	Timeline *scenarios.Timeline `json:"timeline,omitempty"`
	// Error is the grader's own failure, for operators; learners see a generic line.
	Error string `json:"error,omitempty"`
}

// Annotation points at a line of the learner's repository.
type Annotation struct {
	Path    string `json:"path"`
	Line    int    `json:"line"`
	Column  int    `json:"column,omitempty"`
	Message string `json:"message"`
}

// Timings are the wall-clock durations of the pipeline's stages.
type Timings struct {
	Build     Millis `json:"build_ms"`
	Provision Millis `json:"provision_ms"`
	Start     Millis `json:"start_ms"` // the app's replicas started and healthy
	Scenarios Millis `json:"scenarios_ms"`
	Total     Millis `json:"total_ms"`
}

// Verdict is the result of grading one submission.
type Verdict struct {
	Challenge string           `json:"challenge"`
	Status    Status           `json:"status"`
	Score     int              `json:"score"` // 0–100, from the weights of passed scenarios
	Message   string           `json:"message,omitempty"`
	Scenarios []ScenarioResult `json:"scenarios"`
	// LogTail is the end of the build log (build_failed) or of the app's output (crashed, and for
	// reviewers failed). Learners see a failed run's output per public scenario instead, so that
	// hidden scenarios' traces stay hidden.
	LogTail     string       `json:"log_tail,omitempty"`
	Annotations []Annotation `json:"annotations,omitempty"`
	// HiddenFailed is, in the learner's view (ForView), how many hidden scenarios failed: the
	// count is told, so that a failing grade never reads as all green, but never which ones.
	HiddenFailed int     `json:"hidden_failed,omitempty"`
	Timings      Timings `json:"timings"`
}

// Millis is a duration that reads as whole milliseconds in JSON.
type Millis time.Duration

// MarshalJSON writes whole milliseconds.
func (m Millis) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(m).Milliseconds()) }

// UnmarshalJSON reads whole milliseconds.
func (m *Millis) UnmarshalJSON(b []byte) error {
	var ms int64
	if err := json.Unmarshal(b, &ms); err != nil {
		return err
	}
	*m = Millis(time.Duration(ms) * time.Millisecond)
	return nil
}

// Score is the weighted share of passed scenarios, 0–100, rounded down so that 100 means all.
func Score(results []ScenarioResult) int {
	var total, passed int
	for _, r := range results {
		total += r.Weight
		if r.Outcome == OutcomePassed {
			passed += r.Weight
		}
	}
	if total == 0 {
		return 0
	}
	return passed * 100 / total
}

// statusOf decides the overall status from scenario outcomes once every scenario had its turn.
func statusOf(results []ScenarioResult) Status {
	status := Passed
	for _, r := range results {
		switch r.Outcome {
		case OutcomeError:
			return GraderError
		case OutcomeFailed, OutcomeNotRun:
			status = Failed
		}
	}
	return status
}
