package grading_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/grading"
)

// testdata/results/no-provider-key.verdict.json is `runner grade --json --show-hidden` of
// scenarios/idempotentpayments/testdata/broken-no-provider-key: two failures, one of them
// hidden, three hidden scenarios in all.
func recordedVerdict(t *testing.T) grading.Verdict {
	return recorded(t, "testdata/results/no-provider-key.verdict.json")
}

var (
	runStart = time.Date(2026, 12, 6, 15, 0, 53, 0, time.UTC)
	runStop  = runStart.Add(14 * time.Second)
)

func recordedInfo() grading.RunInfo {
	return grading.RunInfo{Tool: "holdfast", Version: "v1.4.0", Start: runStart, Stop: runStop, Spans: map[string]grading.Span{
		"timeout_handling":         {Start: runStart.Add(5 * time.Second), Stop: runStart.Add(5*time.Second + 3210*time.Millisecond)},
		"partial_failure_recovery": {Start: runStart.Add(4 * time.Second), Stop: runStart.Add(4*time.Second + 22*time.Millisecond)},
	}}
}

// What the hidden scenarios' details are made of; none may reach a learner's report.
var hiddenDetails = []string{"partial_failure_recovery", "provider_unreachable", "database_connection_recovery",
	"answered 500", "ch_000009", "provider answered 500 Internal Server Error"}

// ctrfKeys are the properties the CTRF schema (ctrf-io/ctrf schema/ctrf.schema.json) allows
// where it sets additionalProperties false, and its required ones.
var ctrfKeys = map[string]struct{ allowed, required []string }{
	"root":    {[]string{"reportFormat", "specVersion", "reportId", "timestamp", "generatedBy", "extra", "results", "insights", "baseline"}, []string{"results", "reportFormat", "specVersion"}},
	"results": {[]string{"tool", "summary", "tests", "environment", "extra"}, []string{"tool", "summary", "tests"}},
	"tool":    {[]string{"name", "version", "extra"}, []string{"name"}},
	"summary": {[]string{"tests", "passed", "failed", "skipped", "pending", "other", "flaky", "suites", "start", "stop", "duration", "extra"}, []string{"tests", "passed", "failed", "skipped", "pending", "other", "start", "stop"}},
	"test": {[]string{"id", "name", "status", "duration", "start", "stop", "suite", "message", "trace", "snippet", "ai", "line", "rawStatus", "tags", "labels", "type", "filePath", "retries", "retryAttempts", "flaky", "stdout", "stderr", "threadId", "browser", "device", "screenshot", "attachments", "parameters", "steps", "insights", "extra"},
		[]string{"name", "status", "duration"}},
}

// checkObject reports keys the schema does not allow there and required ones missing.
func checkObject(t *testing.T, where string, kind string, obj map[string]any) {
	t.Helper()
	spec := ctrfKeys[kind]
	for k := range obj {
		if !contains(spec.allowed, k) {
			t.Errorf("%s: property %q is not allowed by the CTRF schema", where, k)
		}
	}
	for _, k := range spec.required {
		if _, ok := obj[k]; !ok {
			t.Errorf("%s: required property %q is missing", where, k)
		}
	}
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// integer reports whether a decoded JSON value is an integer, as the schema's "integer" wants.
func integer(v any) bool {
	f, ok := v.(float64)
	return ok && f == float64(int64(f))
}

// validateCTRF checks a report against the CTRF schema's structure: required properties,
// no others where the schema forbids them, types, the status enum and the format constants.
func validateCTRF(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	checkObject(t, "report", "root", doc)
	if doc["reportFormat"] != "CTRF" {
		t.Errorf("reportFormat %v, want the constant CTRF", doc["reportFormat"])
	}
	if s, _ := doc["specVersion"].(string); !regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+$`).MatchString(s) {
		t.Errorf("specVersion %q is not MAJOR.MINOR.PATCH", s)
	}
	if s, _ := doc["timestamp"].(string); s != "" {
		if _, err := time.Parse(time.RFC3339, s); err != nil {
			t.Errorf("timestamp %q is not a date-time: %v", s, err)
		}
	}
	results, _ := doc["results"].(map[string]any)
	checkObject(t, "results", "results", results)
	tool, _ := results["tool"].(map[string]any)
	checkObject(t, "results.tool", "tool", tool)
	if name, _ := tool["name"].(string); name == "" {
		t.Error("results.tool.name must be a non-empty string")
	}
	summary, _ := results["summary"].(map[string]any)
	checkObject(t, "results.summary", "summary", summary)
	for k, v := range summary {
		if k != "extra" && !integer(v) {
			t.Errorf("results.summary.%s = %v, want an integer", k, v)
		}
	}
	tests, ok := results["tests"].([]any)
	if !ok {
		t.Fatalf("results.tests is %T, want an array", results["tests"])
	}
	counts := map[string]int{}
	for i, x := range tests {
		tc, _ := x.(map[string]any)
		where := fmt.Sprintf("results.tests[%d]", i)
		checkObject(t, where, "test", tc)
		if name, _ := tc["name"].(string); name == "" {
			t.Errorf("%s.name must be a non-empty string", where)
		}
		status, _ := tc["status"].(string)
		if !contains([]string{"passed", "failed", "skipped", "pending", "other"}, status) {
			t.Errorf("%s.status %q is not in the enum", where, status)
		}
		counts[status]++
		for _, k := range []string{"duration", "start", "stop"} {
			if v, ok := tc[k]; ok && !integer(v) {
				t.Errorf("%s.%s = %v, want an integer", where, k, v)
			}
		}
		if suite, ok := tc["suite"].([]any); ok && len(suite) == 0 {
			t.Errorf("%s.suite must have at least one item", where)
		}
	}
	if int(summary["tests"].(float64)) != len(tests) {
		t.Errorf("summary.tests %v, but %d tests", summary["tests"], len(tests))
	}
	for _, s := range []string{"passed", "failed", "skipped", "pending", "other"} {
		if int(summary[s].(float64)) != counts[s] {
			t.Errorf("summary.%s %v, but %d tests have that status", s, summary[s], counts[s])
		}
	}
	return doc
}

func TestWriteCTRF(t *testing.T) {
	t.Parallel()
	v := recordedVerdict(t)
	var b bytes.Buffer
	if err := grading.WriteCTRF(&b, grading.ForView(v, grading.LearnerView), recordedInfo()); err != nil {
		t.Fatal(err)
	}
	doc := validateCTRF(t, b.Bytes())
	for _, s := range hiddenDetails {
		if strings.Contains(b.String(), s) {
			t.Errorf("the learner's CTRF report shows %q of a hidden scenario:\n%s", s, b.String())
		}
	}
	results := doc["results"].(map[string]any)
	if tool := results["tool"].(map[string]any); tool["name"] != "holdfast" || tool["version"] != "v1.4.0" {
		t.Errorf("tool %v, want holdfast v1.4.0", tool)
	}
	summary := results["summary"].(map[string]any)
	if summary["start"] != float64(runStart.UnixMilli()) || summary["stop"] != float64(runStop.UnixMilli()) || summary["duration"] != float64(14000) {
		t.Errorf("summary times %v %v %v, want the run's", summary["start"], summary["stop"], summary["duration"])
	}
	// 10 scenarios: 6 public passed, 1 public failed, 3 hidden (withheld: "other").
	if summary["tests"] != 10.0 || summary["passed"] != 6.0 || summary["failed"] != 1.0 || summary["other"] != 3.0 {
		t.Errorf("summary %v, want 10 tests: 6 passed, 1 failed, 3 other", summary)
	}
	extra := summary["extra"].(map[string]any)
	// Points shown: the public passed ones' weights (70 of 110); the score counts hidden passes too.
	if extra["score"] != 77.0 || extra["points"] != 70.0 || extra["maxPoints"] != 110.0 || extra["verdict"] != "failed" {
		t.Errorf("summary extra %v, want score 77, points 70 of 110, verdict failed", extra)
	}
	byName := map[string]map[string]any{}
	for _, x := range results["tests"].([]any) {
		tc := x.(map[string]any)
		byName[tc["name"].(string)] = tc
	}
	th := byName["timeout_handling"]
	if th == nil || th["status"] != "failed" || th["duration"] != 3210.0 || th["start"] != float64(runStart.Add(5*time.Second).UnixMilli()) ||
		th["stop"] != float64(runStart.Add(5*time.Second+3210*time.Millisecond).UnixMilli()) {
		t.Fatalf("timeout_handling: %v", th)
	}
	if e := th["extra"].(map[string]any); e["points"] != 0.0 || e["maxPoints"] != 10.0 {
		t.Errorf("timeout_handling points %v, want 0 of 10", e)
	}
	if msg, _ := th["message"].(string); !strings.Contains(msg, "exactly 1 provider charge") || !strings.Contains(th["trace"].(string), "hint:") {
		t.Errorf("timeout_handling message %q trace %q: want expected/actual and the hint", msg, th["trace"])
	}
	if out, _ := th["stdout"].([]any); len(out) == 0 {
		t.Errorf("timeout_handling: want the app's output during it")
	}
	if e := byName["concurrent_duplicate_requests"]["extra"].(map[string]any); e["points"] != 20.0 || e["maxPoints"] != 20.0 {
		t.Errorf("a passed scenario's points %v, want 20 of 20", e)
	}
	h := byName["hidden scenario 1"]
	if h == nil || h["status"] != "other" || h["rawStatus"] != "withheld" || h["start"] != nil {
		t.Fatalf("hidden scenario 1: %v; want status other, withheld, no times", h)
	}
	if e := h["extra"].(map[string]any); e["points"] != nil || e["maxPoints"] != 15.0 {
		t.Errorf("a hidden scenario's points %v: want none shown, max 15", e)
	}

	// Reviewers (--show-hidden) see the hidden scenarios in full.
	b.Reset()
	if err := grading.WriteCTRF(&b, grading.ForView(v, grading.ReviewerView), recordedInfo()); err != nil {
		t.Fatal(err)
	}
	validateCTRF(t, b.Bytes())
	for _, s := range []string{"partial_failure_recovery", "ch_000009"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("the reviewer's CTRF report lacks %q", s)
		}
	}
}

// junit is what JUnit consumers (Jenkins, GitLab, GitHub test reporters) read.
type junit struct {
	XMLName  xml.Name `xml:"testsuites"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Errors   int      `xml:"errors,attr"`
	Skipped  int      `xml:"skipped,attr"`
	Time     string   `xml:"time,attr"`
	Suites   []struct {
		Name       string `xml:"name,attr"`
		Tests      int    `xml:"tests,attr"`
		Failures   int    `xml:"failures,attr"`
		Errors     int    `xml:"errors,attr"`
		Skipped    int    `xml:"skipped,attr"`
		Time       string `xml:"time,attr"`
		Timestamp  string `xml:"timestamp,attr"`
		Properties []struct {
			Name  string `xml:"name,attr"`
			Value string `xml:"value,attr"`
		} `xml:"properties>property"`
		Cases []struct {
			Name       string `xml:"name,attr"`
			Classname  string `xml:"classname,attr"`
			Time       string `xml:"time,attr"`
			Properties []struct {
				Name  string `xml:"name,attr"`
				Value string `xml:"value,attr"`
			} `xml:"properties>property"`
			Failure *struct {
				Message string `xml:"message,attr"`
				Body    string `xml:",chardata"`
			} `xml:"failure"`
			Error *struct {
				Message string `xml:"message,attr"`
			} `xml:"error"`
			Skipped *struct {
				Message string `xml:"message,attr"`
			} `xml:"skipped"`
			SystemOut string `xml:"system-out"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func TestWriteJUnit(t *testing.T) {
	t.Parallel()
	v := recordedVerdict(t)
	var b bytes.Buffer
	if err := grading.WriteJUnit(&b, grading.ForView(v, grading.LearnerView), recordedInfo()); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), `<?xml version="1.0" encoding="UTF-8"?>`) {
		t.Errorf("no XML declaration:\n%s", b.String())
	}
	for _, s := range hiddenDetails {
		if strings.Contains(b.String(), s) {
			t.Errorf("the learner's JUnit report shows %q of a hidden scenario:\n%s", s, b.String())
		}
	}
	var doc junit
	if err := xml.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("not JUnit XML: %v\n%s", err, b.String())
	}
	if len(doc.Suites) != 1 {
		t.Fatalf("%d testsuites, want 1", len(doc.Suites))
	}
	s := doc.Suites[0]
	var failures, errors, skipped int
	var sum float64
	for _, c := range s.Cases {
		if c.Name == "" || c.Classname != "idempotent-payments" {
			t.Errorf("testcase %q classname %q", c.Name, c.Classname)
		}
		sec, err := strconv.ParseFloat(c.Time, 64)
		if err != nil || sec < 0 {
			t.Errorf("testcase %s time %q is not seconds", c.Name, c.Time)
		}
		sum += sec
		if c.Failure != nil {
			failures++
		}
		if c.Error != nil {
			errors++
		}
		if c.Skipped != nil {
			skipped++
		}
	}
	if s.Tests != len(s.Cases) || s.Failures != failures || s.Errors != errors || s.Skipped != skipped {
		t.Errorf("testsuite counts tests=%d failures=%d errors=%d skipped=%d, but its testcases have %d, %d, %d, %d",
			s.Tests, s.Failures, s.Errors, s.Skipped, len(s.Cases), failures, errors, skipped)
	}
	if doc.Tests != s.Tests || doc.Failures != s.Failures || doc.Skipped != s.Skipped || doc.Time != s.Time {
		t.Errorf("testsuites totals %+v differ from the testsuite's", doc)
	}
	if s.Tests != 10 || s.Failures != 1 || s.Skipped != 3 || s.Errors != 0 {
		t.Errorf("got %d tests, %d failures, %d skipped, %d errors; want 10, 1, 3 (hidden), 0", s.Tests, s.Failures, s.Skipped, s.Errors)
	}
	if total, err := strconv.ParseFloat(s.Time, 64); err != nil || total != 14 || sum > total {
		t.Errorf("testsuite time %q, want 14.000 (the run), no less than its testcases' %.3f", s.Time, sum)
	}
	if _, err := time.Parse("2006-01-02T15:04:05", s.Timestamp); err != nil {
		t.Errorf("testsuite timestamp %q: %v", s.Timestamp, err)
	}
	props := map[string]string{}
	for _, p := range s.Properties {
		props[p.Name] = p.Value
	}
	if props["tool"] != "holdfast" || props["version"] != "v1.4.0" || props["score"] != "77" || props["points"] != "70" || props["max_points"] != "110" {
		t.Errorf("testsuite properties %v", props)
	}
	for _, c := range s.Cases {
		cp := map[string]string{}
		for _, p := range c.Properties {
			cp[p.Name] = p.Value
		}
		switch c.Name {
		case "timeout_handling":
			if c.Failure == nil || !strings.Contains(c.Failure.Message, "exactly 1 provider charge") || !strings.Contains(c.Failure.Body, "hint:") || c.Time != "3.210" {
				t.Errorf("timeout_handling: %+v", c)
			}
			if cp["points"] != "0" || cp["max_points"] != "10" || c.SystemOut == "" {
				t.Errorf("timeout_handling: points %v, output %q", cp, c.SystemOut)
			}
		case "basic_request_handling":
			if c.Failure != nil || c.Skipped != nil || cp["points"] != "10" || cp["max_points"] != "10" {
				t.Errorf("basic_request_handling: %+v %v", c, cp)
			}
		case "hidden scenario 1":
			if c.Skipped == nil || !strings.Contains(c.Skipped.Message, "counts in the score") || cp["points"] != "" || cp["max_points"] != "15" {
				t.Errorf("hidden scenario 1: %+v %v", c, cp)
			}
		}
	}
}

// A grading that stopped early (a crash) reports its scenarios as skipped, and a scenario the
// grader could not judge as an error, not a failure.
func TestWriteJUnitNotRunAndGraderError(t *testing.T) {
	t.Parallel()
	v := grading.Verdict{Challenge: "c", Status: grading.GraderError, Scenarios: []grading.ScenarioResult{
		{Slug: "a", Visibility: "public", Weight: 1, Outcome: grading.OutcomeError, Error: "reset agent: EOF"},
		{Slug: "b", Visibility: "public", Weight: 1, Outcome: grading.OutcomeNotRun},
	}}
	var b bytes.Buffer
	if err := grading.WriteJUnit(&b, v, grading.RunInfo{Start: runStart, Stop: runStop}); err != nil {
		t.Fatal(err)
	}
	var doc junit
	if err := xml.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	s := doc.Suites[0]
	if s.Errors != 1 || s.Skipped != 1 || s.Failures != 0 || s.Cases[0].Error == nil || s.Cases[1].Skipped == nil {
		t.Fatalf("got %s", b.String())
	}
	b.Reset()
	if err := grading.WriteCTRF(&b, v, grading.RunInfo{Start: runStart, Stop: runStop}); err != nil {
		t.Fatal(err)
	}
	validateCTRF(t, b.Bytes())
}

func TestSpans(t *testing.T) {
	t.Parallel()
	s := grading.NewSpans()
	var seen []string
	progress := s.Wrap(func(e grading.Event) { seen = append(seen, e.Stage) })
	before := time.Now()
	progress(grading.Event{Stage: "build", Done: true})
	progress(grading.Event{Stage: "scenario", Note: "a"})
	r := grading.ScenarioResult{Slug: "a"}
	progress(grading.Event{Stage: "scenario", Done: true, Duration: time.Millisecond, Result: &r})
	after := time.Now()
	sp, ok := s.All()["a"]
	if !ok || sp.Start.Before(before) || sp.Stop.Before(sp.Start) || sp.Stop.After(after) {
		t.Fatalf("span of a: %+v (ok %v), want within [%v, %v]", sp, ok, before, after)
	}
	if len(seen) != 3 || len(s.All()) != 1 {
		t.Fatalf("next saw %v; spans %v", seen, s.All())
	}
}
