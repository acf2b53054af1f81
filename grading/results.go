package grading

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
)

// RunInfo is what the machine-readable reports (CTRF, JUnit) say of a grading besides its
// verdict.
type RunInfo struct {
	Tool    string // the tool's name; default "holdfast"
	Version string // the tool's version; default ToolVersion()
	// Start and Stop bound the whole grading (build included).
	Start, Stop time.Time
	// Spans are when each scenario ran, by slug (Spans.Observe records them). A scenario
	// without one has its duration only.
	Spans map[string]Span
}

// Span is when one scenario started and stopped.
type Span struct{ Start, Stop time.Time }

// ToolVersion is the module version the running binary was built as: v1.2.3 from
// `go install …@v1.2.3`, a pseudo-version from a commit, or "(devel)" in a checkout.
func ToolVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// Spans records when each scenario of a grading started and stopped, from its progress events.
type Spans struct {
	mu    sync.Mutex
	spans map[string]Span
	now   func() time.Time
}

// NewSpans returns an empty recorder.
func NewSpans() *Spans { return &Spans{spans: map[string]Span{}, now: time.Now} }

// Wrap returns a progress function that records spans, then calls next (which may be nil).
func (s *Spans) Wrap(next func(Event)) func(Event) {
	return func(e Event) {
		s.Observe(e)
		if next != nil {
			next(e)
		}
	}
}

// Observe records a scenario's start (its slug is the event's note) or stop.
func (s *Spans) Observe(e Event) {
	if e.Stage != "scenario" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case !e.Done && e.Note != "":
		s.spans[e.Note] = Span{Start: s.now()}
	case e.Done && e.Result != nil:
		sp := s.spans[e.Result.Slug]
		sp.Stop = s.now()
		if sp.Start.IsZero() {
			sp.Start = sp.Stop.Add(-time.Duration(e.Duration))
		}
		s.spans[e.Result.Slug] = sp
	}
}

// All returns a copy of the spans recorded so far.
func (s *Spans) All() map[string]Span {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]Span, len(s.spans))
	for k, v := range s.spans {
		out[k] = v
	}
	return out
}

func (info RunInfo) withDefaults() RunInfo {
	if info.Tool == "" {
		info.Tool = "holdfast"
	}
	if info.Version == "" {
		info.Version = ToolVersion()
	}
	return info
}

// resultRow is one scenario as the machine-readable reports show it: a learner's view hides a
// hidden scenario's name and outcome as the text report does.
type resultRow struct {
	name      string
	status    string // CTRF: passed, failed, skipped, other
	outcome   Outcome
	duration  time.Duration
	span      *Span
	points    *int // nil when withheld
	maxPoints int
	message   string // one line: what failed, or why it was not judged
	details   string // expected / actual / hint
	output    string // the app's output during a failed public scenario
	hidden    bool
}

// hiddenNote is what the reports say of a hidden scenario in a learner's view.
const hiddenNote = "hidden scenario: it runs and counts in the score; its details are withheld"

// rows turns a ForView'd verdict's scenarios into report rows.
func rows(v Verdict, info RunInfo) []resultRow {
	var out []resultRow
	hidden := 0
	for _, r := range v.Scenarios {
		row := resultRow{name: r.Slug, outcome: r.Outcome, duration: time.Duration(r.Duration), maxPoints: r.Weight}
		if r.Visibility == scenarios.Hidden && r.Outcome == OutcomeWithheld {
			hidden++
			row.name, row.status, row.message, row.hidden = fmt.Sprintf("hidden scenario %d", hidden), "other", hiddenNote, true
			out = append(out, row)
			continue
		}
		if sp, ok := info.Spans[r.Slug]; ok {
			row.span = &sp
		}
		points := 0
		switch r.Outcome {
		case OutcomePassed:
			row.status, points = "passed", r.Weight
		case OutcomeFailed:
			row.status = "failed"
			if f := r.Failure; f != nil {
				row.message = fmt.Sprintf("expected %s, but %s", f.Expected, f.Actual)
				row.details = fmt.Sprintf("expected: %s\nactual:   %s\n", f.Expected, f.Actual)
				if f.Hint != "" {
					row.details += "hint:     " + f.Hint + "\n"
				}
			}
			row.output = PlainText(r.LogTail)
		case OutcomeError:
			row.status, row.message = "other", "the grader failed here, not your code"
			if r.Error != "" {
				row.message += ": " + r.Error
			}
		case OutcomeNotRun:
			row.status, row.message = "skipped", "not run: the grading stopped before this scenario's turn"
		default:
			row.status = "other"
		}
		row.points = &points
		out = append(out, row)
	}
	return out
}

// pointsOf sums the points shown and the maximum: the score is their share, 0–100.
func pointsOf(rs []resultRow) (points, maxPoints int) {
	for _, r := range rs {
		maxPoints += r.maxPoints
		if r.points != nil {
			points += *r.points
		}
	}
	return points, maxPoints
}

// WriteCTRF writes the verdict as a CTRF report (the Common Test Report Format, ctrf.io). v must
// already be ForView'd: in a learner's view hidden scenarios are rows named "hidden scenario N"
// with status "other", and reviewer-only ones are absent.
func WriteCTRF(w io.Writer, v Verdict, info RunInfo) error {
	info = info.withDefaults()
	type test struct {
		Name      string         `json:"name"`
		Status    string         `json:"status"`
		Duration  int64          `json:"duration"`
		Start     int64          `json:"start,omitempty"`
		Stop      int64          `json:"stop,omitempty"`
		Suite     []string       `json:"suite"`
		Message   string         `json:"message,omitempty"`
		Trace     string         `json:"trace,omitempty"`
		RawStatus string         `json:"rawStatus"`
		Stdout    []string       `json:"stdout,omitempty"`
		Extra     map[string]any `json:"extra"`
	}
	rs := rows(v, info)
	var tests []test
	counts := map[string]int{}
	for _, r := range rs {
		counts[r.status]++
		t := test{Name: r.name, Status: r.status, Duration: r.duration.Milliseconds(), Suite: []string{v.Challenge},
			Message: r.message, Trace: r.details, RawStatus: string(r.outcome), Extra: map[string]any{"maxPoints": r.maxPoints}}
		if r.points != nil {
			t.Extra["points"] = *r.points
		}
		if r.span != nil {
			t.Start, t.Stop = r.span.Start.UnixMilli(), r.span.Stop.UnixMilli()
		}
		if r.output != "" {
			t.Stdout = strings.Split(strings.TrimRight(r.output, "\n"), "\n")
		}
		tests = append(tests, t)
	}
	if tests == nil {
		tests = []test{}
	}
	points, maxPoints := pointsOf(rs)
	summaryExtra := map[string]any{"challenge": v.Challenge, "verdict": string(v.Status), "score": v.Score, "maxScore": 100,
		"points": points, "maxPoints": maxPoints}
	if v.Message != "" {
		summaryExtra["message"] = v.Message
	}
	report := map[string]any{
		"reportFormat": "CTRF",
		"specVersion":  ctrfSpecVersion,
		"timestamp":    info.Stop.UTC().Format(time.RFC3339),
		"generatedBy":  info.Tool + " " + info.Version,
		"results": map[string]any{
			"tool": map[string]any{"name": info.Tool, "version": info.Version},
			"summary": map[string]any{
				"tests": len(rs), "passed": counts["passed"], "failed": counts["failed"], "skipped": counts["skipped"],
				"pending": 0, "other": counts["other"],
				"start": info.Start.UnixMilli(), "stop": info.Stop.UnixMilli(), "duration": info.Stop.Sub(info.Start).Milliseconds(),
				"extra": summaryExtra,
			},
			"tests": tests,
		},
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(report)
}

// ctrfSpecVersion is the CTRF specification version the report follows.
const ctrfSpecVersion = "1.0.0"

// WriteJUnit writes the verdict as JUnit XML, as CI systems read it: one testsuite per
// grading, one testcase per scenario, with failure, error and skipped elements and times in
// seconds. v must already be ForView'd; a hidden scenario in a learner's view is a skipped
// testcase whose message says it ran and counts.
func WriteJUnit(w io.Writer, v Verdict, info RunInfo) error {
	info = info.withDefaults()
	type property struct {
		Name  string `xml:"name,attr"`
		Value string `xml:"value,attr"`
	}
	type message struct {
		Message string `xml:"message,attr,omitempty"`
		Type    string `xml:"type,attr,omitempty"`
		Body    string `xml:",chardata"`
	}
	type testcase struct {
		Name       string     `xml:"name,attr"`
		Classname  string     `xml:"classname,attr"`
		Time       string     `xml:"time,attr"`
		Timestamp  string     `xml:"timestamp,attr,omitempty"`
		Properties []property `xml:"properties>property,omitempty"`
		Failure    *message   `xml:"failure,omitempty"`
		Error      *message   `xml:"error,omitempty"`
		Skipped    *message   `xml:"skipped,omitempty"`
		SystemOut  string     `xml:"system-out,omitempty"`
	}
	type testsuite struct {
		Name       string     `xml:"name,attr"`
		Tests      int        `xml:"tests,attr"`
		Failures   int        `xml:"failures,attr"`
		Errors     int        `xml:"errors,attr"`
		Skipped    int        `xml:"skipped,attr"`
		Time       string     `xml:"time,attr"`
		Timestamp  string     `xml:"timestamp,attr"`
		Properties []property `xml:"properties>property"`
		Cases      []testcase `xml:"testcase"`
		SystemOut  string     `xml:"system-out,omitempty"`
	}
	type testsuites struct {
		XMLName  xml.Name    `xml:"testsuites"`
		Name     string      `xml:"name,attr"`
		Tests    int         `xml:"tests,attr"`
		Failures int         `xml:"failures,attr"`
		Errors   int         `xml:"errors,attr"`
		Skipped  int         `xml:"skipped,attr"`
		Time     string      `xml:"time,attr"`
		Suites   []testsuite `xml:"testsuite"`
	}
	rs := rows(v, info)
	points, maxPoints := pointsOf(rs)
	suite := testsuite{Name: v.Challenge, Tests: len(rs), Time: seconds(info.Stop.Sub(info.Start)),
		Timestamp: info.Start.UTC().Format("2006-01-02T15:04:05"),
		Properties: []property{{"tool", info.Tool}, {"version", info.Version}, {"verdict", string(v.Status)},
			{"score", fmt.Sprint(v.Score)}, {"max_score", "100"}, {"points", fmt.Sprint(points)}, {"max_points", fmt.Sprint(maxPoints)}}}
	if v.Message != "" {
		suite.SystemOut = v.Message
	}
	for _, r := range rs {
		c := testcase{Name: r.name, Classname: v.Challenge, Time: seconds(r.duration), SystemOut: r.output,
			Properties: []property{{"max_points", fmt.Sprint(r.maxPoints)}}}
		if r.points != nil {
			c.Properties = append([]property{{"points", fmt.Sprint(*r.points)}}, c.Properties...)
		}
		if r.span != nil {
			c.Timestamp = r.span.Start.UTC().Format("2006-01-02T15:04:05.000")
		}
		switch {
		case r.hidden:
			c.Skipped = &message{Message: r.message}
			suite.Skipped++
		case r.outcome == OutcomeFailed:
			c.Failure = &message{Message: r.message, Type: "failed", Body: r.details}
			suite.Failures++
		case r.outcome == OutcomeError:
			c.Error = &message{Message: r.message, Type: "grader_error"}
			suite.Errors++
		case r.outcome == OutcomeNotRun:
			c.Skipped = &message{Message: r.message}
			suite.Skipped++
		}
		suite.Cases = append(suite.Cases, c)
	}
	doc := testsuites{Name: info.Tool, Tests: suite.Tests, Failures: suite.Failures, Errors: suite.Errors,
		Skipped: suite.Skipped, Time: suite.Time, Suites: []testsuite{suite}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// seconds formats a duration as JUnit's time attribute: seconds, to the millisecond.
func seconds(d time.Duration) string {
	return fmt.Sprintf("%.3f", d.Seconds())
}
