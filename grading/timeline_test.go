package grading_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/gradingtest"
	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/agent"
)

// doubleCharge is a scenario in which "the app" (the scenario itself, as in flood_test.go)
// charges one payment twice after the provider failed the first answer.
func doubleCharge(ctx context.Context, h *scenarios.Harness) error {
	if err := h.Agent.Provider(ctx, agent.ProviderBehaviour{Mode: agent.ModeChargeThenFail, Count: 1}); err != nil {
		return err
	}
	h.Do(ctx, scenarios.Request{Method: http.MethodPost, Path: "/pay", Header: map[string]string{"Idempotency-Key": "client-key-0001"}})
	for range 2 {
		if err := chargeWithKey(h, ""); err != nil {
			return err
		}
	}
	return scenarios.Failf("exactly 1 charge", "Send the provider an Idempotency-Key.", "2 charges")
}

// TestTimelineOnlyForFailedPublic: a failed public scenario carries its own timeline (nothing
// from the scenarios before it); a failed hidden or reviewer-only scenario, and a passed one,
// carry none, in the verdict as stored, so no view can leak one.
func TestTimelineOnlyForFailedPublic(t *testing.T) {
	t.Parallel()
	e := engine(gradingtest.Script{})
	v := grade(t, e, 0,
		scenario("hidden_double", scenarios.Hidden, 10, doubleCharge),
		scenario("reviewer_double", scenarios.ReviewerOnly, 10, doubleCharge),
		scenario("public_double", scenarios.Public, 10, doubleCharge),
		scenario("public_pass", scenarios.Public, 10, func(ctx context.Context, h *scenarios.Harness) error {
			return errors.Join(chargeWithKey(h, "k"))
		}))
	if got := outcomes(v); got != "hidden_double=failed reviewer_double=failed public_double=failed public_pass=passed" {
		t.Fatalf("outcomes %s", got)
	}
	for _, r := range v.Scenarios {
		if r.Slug != "public_double" && r.Timeline != nil {
			t.Errorf("%s (%s, %s) has a timeline of %d events; only failed public scenarios may", r.Slug, r.Visibility, r.Outcome, len(r.Timeline.Events))
		}
	}
	tl := v.Scenarios[2].Timeline
	if tl == nil {
		t.Fatal("the failed public scenario has no timeline")
	}
	var got []string
	for _, ev := range tl.Events {
		got = append(got, string(ev.Kind)+" "+ev.From+">"+ev.To+" "+ev.What+" "+ev.Note)
	}
	want := []string{
		"fault harness>provider charge_then_fail ×1 ",
		"request harness>app POST /pay ",
		"request app>provider POST /v1/charges charged ch_000005; fault charge_then_fail",
		"request app>provider POST /v1/charges charged ch_000006",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("timeline:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	learner, err := json.Marshal(grading.ForView(v, grading.LearnerView))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(learner), `"timeline"`); n != 1 {
		t.Fatalf("the learner's view has %d timelines; want the public failure's only", n)
	}
}

// TestTimelineGolden renders each challenge's characteristic failure, recorded from a real
// kill-matrix grading (testdata/timeline/*.json, written by HOLDFAST_RECORD_TIMELINES), as the
// CLI's text and as a Mermaid diagram. go test ./grading -update rewrites the renderings.
func TestTimelineGolden(t *testing.T) {
	recorded, err := filepath.Glob(filepath.Join("testdata", "timeline", "*.json"))
	if err != nil || len(recorded) == 0 {
		t.Fatalf("no recorded timelines in testdata/timeline (%v)", err)
	}
	for _, path := range recorded {
		name := strings.TrimSuffix(filepath.Base(path), ".json")
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var tl scenarios.Timeline
			if err := json.Unmarshal(b, &tl); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			text := strings.Join(grading.TimelineText(&tl), "\n") + "\n"
			golden(t, filepath.Join("timeline", name+".txt"), []byte(text))
			golden(t, filepath.Join("timeline", name+".mmd"), []byte(grading.TimelineMermaid(&tl)))
		})
	}
}

// TestTimelineShortensVolatileIDs: keys, uuids and generated ids read as short names, the same
// value the same name everywhere; amounts, paths and words stay.
func TestTimelineShortensVolatileIDs(t *testing.T) {
	t.Parallel()
	key := "hf-hang-3fa2b1c4d5e6"
	tl := &scenarios.Timeline{Events: []agent.Event{
		{Kind: agent.EventRequest, From: "harness", To: "app", What: "POST /api/payments", Key: key, Body: `{"amount":100000,"currency":"usd"}`,
			At: 1e6, End: 9e6, Status: 201, Answer: `{"id":"pay_a881bac03b5856b363f805a6","status":"succeeded"}`},
		{Kind: agent.EventRequest, From: "app", To: "provider", What: "POST /v1/charges", Key: "pay_a881bac03b5856b363f805a6",
			Body: `{"payment_id":"pay_a881bac03b5856b363f805a6","trace":"0b5e8f0e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"}`, At: 2e6, End: 3e6, Status: 200, Note: "charged ch_000017"},
		{Kind: agent.EventRequest, From: "harness", To: "app", What: "GET /api/payments/pay_a881bac03b5856b363f805a6", At: 10e6, End: 11e6, Status: 200,
			Answer: `{"echo":"` + key + `"}`},
	}}
	got := strings.Join(grading.TimelineText(tl), "\n")
	want := strings.Join([]string{
		`+1ms   harness → app   POST /api/payments key=k1 {"amount":100000,"currency":"usd"}`,
		`+2ms   app → provider  POST /v1/charges key=k2 {"payment_id":"k2","trace":"id1"}`,
		`+3ms   app ← provider  200 — charged ch_1`,
		`+9ms   harness ← app   201 — {"id":"k2","status":"succeeded"}`,
		`+10ms  harness → app   GET /api/payments/k2`,
		`+11ms  harness ← app   200 — {"echo":"k1"}`,
	}, "\n")
	if got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
}

// TestTimelineMermaidIsSafe: what the app sent cannot end a message, open HTML or close the
// fence: ";" "#" "<" ">" and backticks are entities, newlines spaces, and a replica's name is
// an identifier ("app-2" would read as an arrow).
func TestTimelineMermaidIsSafe(t *testing.T) {
	t.Parallel()
	tl := &scenarios.Timeline{Events: []agent.Event{
		{Kind: agent.EventRequest, From: "harness", To: "app-2", What: "POST /x", Body: "a;b#c<script>```\nd", At: 1e6},
		{Kind: agent.EventGap, At: 2e6, Omitted: 7},
		{Kind: agent.EventSignal, From: "harness", To: "app-2", What: "SIGKILL", At: 3e6},
	}}
	got := grading.TimelineMermaid(tl)
	want := "sequenceDiagram\n" +
		"    participant harness as harness\n" +
		"    participant app2 as app-2\n" +
		"    harness->>app2: +1ms POST /x a#59;b#35;c#lt;script#gt;#96;#96;#96; d\n" +
		"    Note over harness,app2: … 7 more events …\n" +
		"    harness->>app2: +3ms SIGKILL\n"
	if got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
}

// TestTimelineInReports: the pull request comment draws a failed public scenario's timeline as
// a Mermaid diagram, the check run's summary (where GitHub does not document Mermaid) and the
// CLI as text; a hidden scenario's never shows, even if one were recorded.
func TestTimelineInReports(t *testing.T) {
	t.Parallel()
	public := &scenarios.Timeline{Events: []agent.Event{
		{Kind: agent.EventRequest, From: "harness", To: "app", What: "POST /api/payments", Key: "key-0001", At: 1e6, End: 5e6, Status: 504},
	}}
	secret := &scenarios.Timeline{Events: []agent.Event{
		{Kind: agent.EventRequest, From: "harness", To: "app", What: "POST /secret-route", At: 1e6},
	}}
	v := grading.Verdict{Status: grading.Failed, Score: 50, Scenarios: []grading.ScenarioResult{
		{Slug: "timeout_handling", Visibility: scenarios.Public, Weight: 1, Outcome: grading.OutcomeFailed,
			Failure: &scenarios.Failure{Expected: "504", Actual: "200"}, Timeline: public},
		{Slug: "hidden_one", Visibility: scenarios.Hidden, Weight: 1, Outcome: grading.OutcomeFailed,
			Failure: &scenarios.Failure{Expected: "x", Actual: "y"}, Timeline: secret},
	}}
	learner := grading.ForView(v, grading.LearnerView)
	var text strings.Builder
	if err := grading.WriteText(&text, learner); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, got, want, not string
	}{
		{"comment", grading.Markdown(learner), "```mermaid\nsequenceDiagram\n", "```text\n+1ms"},
		{"check run", grading.MarkdownBody(learner), "```text\n+1ms  harness → app  POST /api/payments key=k1\n+5ms  harness ← app  504\n```", "mermaid"},
		{"cli", text.String(), "--- what happened during timeout_handling (ms from its start)\n  +1ms  harness → app  POST /api/payments key=k1\n", "mermaid"},
	} {
		if !strings.Contains(c.got, c.want) || strings.Contains(c.got, c.not) {
			t.Errorf("%s: want %q in it and no %q:\n%s", c.name, c.want, c.not, c.got)
		}
		if strings.Contains(c.got, "secret-route") {
			t.Errorf("%s shows the hidden scenario's timeline:\n%s", c.name, c.got)
		}
	}
}

// TestTimelineDrawnBounded: a report draws at most 50 steps of a timeline, the first and last
// 25 and a note of what it left out, so that several failures fit GitHub's limit; the CLI draws
// them all.
func TestTimelineDrawnBounded(t *testing.T) {
	t.Parallel()
	tl := &scenarios.Timeline{}
	for i := range 80 {
		at := time.Duration(i) * time.Millisecond
		tl.Events = append(tl.Events, agent.Event{Kind: agent.EventRequest, From: "harness", To: "app", What: "GET /", At: at, End: at + 1, Status: 200})
	}
	tl.Events = append(tl.Events[:40], append([]agent.Event{{Kind: agent.EventGap, At: 40 * time.Millisecond, Omitted: 1000}}, tl.Events[40:]...)...)
	mmd := grading.TimelineMermaid(tl)
	if n := strings.Count(mmd, "harness->>app") + strings.Count(mmd, "app-->>harness"); n != 50 {
		t.Errorf("the diagram draws %d steps; want 50", n)
	}
	if !strings.Contains(mmd, "Note over harness,app: … 110 more steps and 1000 more events …") {
		t.Errorf("the diagram does not say what it left out:\n%s", mmd)
	}
	if n := len(grading.TimelineText(tl)); n != 161 {
		t.Errorf("the CLI draws %d lines; want all 160 steps and the recorded gap", n)
	}
}

// TestTimelineMermaidOfNothing: a timeline with no events, or a gap alone, is still a diagram
// (GitHub shows an error box for one that does not parse), never a panic.
func TestTimelineMermaidOfNothing(t *testing.T) {
	t.Parallel()
	if got := grading.TimelineMermaid(&scenarios.Timeline{}); got != "sequenceDiagram\n    participant harness as harness\n" {
		t.Errorf("empty timeline: %q", got)
	}
	got := grading.TimelineMermaid(&scenarios.Timeline{Events: []agent.Event{{Kind: agent.EventGap, Omitted: 3}}, Note: "the agent's record could not be read"})
	want := "sequenceDiagram\n    participant harness as harness\n    Note over harness: … 3 more events …\n" +
		"    Note over harness: this timeline is incomplete: the agent's record could not be read\n"
	if got != want {
		t.Errorf("a gap alone:\n%s\nwant:\n%s", got, want)
	}
}
