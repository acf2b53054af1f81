package scenariotest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/agent"
)

// RecordTimelinesEnv names a directory: when set, KillMatrix writes there the timeline of every
// failed public scenario it grades, as JSON (<challenge>.<row>.<scenario>.json), to be
// normalised into grading/testdata/timeline/.
const RecordTimelinesEnv = "HOLDFAST_RECORD_TIMELINES"

// characteristic is, per challenge, a kill-matrix row whose failure is the challenge's
// characteristic one, and what its timeline must show for a learner to see it happen. The
// check runs on the row's real grading (KillMatrix); none adds a grading of its own.
var characteristic = map[string]timelineCheck{
	"idempotent-payments": {Row: "broken-no-provider-key", Scenario: "timeout_handling", Check: doubleChargeAfterTimeout},
	"circuit-breaker":     {Row: "broken-no-breaker", Scenario: "opens_after_threshold", Check: breakerNeverOpens},
	"cache-stampede":      {Row: "broken-naive-cache-aside", Scenario: "hot_key_flush_stampede", Check: originStampede},
	"rate-limiter":        {Row: "broken-get-then-incr", Scenario: "burst_across_replicas", Check: burstOverLimit},
	"flash-sale":          {Row: "broken-read-then-update", Scenario: "concurrent_no_oversell", Check: oversold},
	"distributed-lock":    {Row: "broken-no-ttl", Scenario: "paused_holder_is_fenced", Check: lockOutlivesPause},
	"debug-retry-storm":   {Row: "fix-retry-harder", Scenario: "catalog_hang_budget", Check: moreThanThreeAttempts},
	"graceful-shutdown":   {Row: "broken-fatal-on-server-closed", Scenario: "in_flight_requests_complete", Check: inFlightCutOff},
}

type timelineCheck struct {
	Row, Scenario string
	Check         func(tl *scenarios.Timeline) error
}

// checkTimelines holds a real grading's timelines to their rule: every failed public scenario
// has one (empty when nothing was recorded: a scenario may fail on a direct observation alone),
// no other scenario has one (a hidden scenario's would give it away),
// and the challenge's characteristic failure shows its characteristic events.
func checkTimelines(t *testing.T, ch grading.Challenge, row Row, v grading.Verdict) {
	t.Helper()
	for _, r := range v.Scenarios {
		switch {
		case r.Outcome == grading.OutcomeFailed && r.Visibility == scenarios.Public:
			if r.Timeline == nil {
				t.Errorf("%s failed and is public, but has no timeline to show", r.Slug)
				continue
			}
			if r.Timeline.Note != "" {
				// The app's traffic can get the agent killed (a flood): then only the harness's
				// side is there, and the characteristic checks below say whether that matters.
				t.Logf("%s: timeline incomplete: %s", r.Slug, r.Timeline.Note)
			}
			if len(r.Timeline.Events) > scenarios.MaxTimeline+1 {
				t.Errorf("%s: timeline of %d events; want at most %d and a gap", r.Slug, len(r.Timeline.Events), scenarios.MaxTimeline+1)
			}
			record(t, ch.Slug, row.Dir, r)
		case r.Timeline != nil:
			t.Errorf("%s (%s, %s) has a timeline; only failed public scenarios may", r.Slug, r.Visibility, r.Outcome)
		}
	}
	c, ok := characteristic[ch.Slug]
	if !ok || c.Row != row.Dir {
		return
	}
	for _, r := range v.Scenarios {
		if r.Slug != c.Scenario {
			continue
		}
		if r.Timeline == nil {
			t.Fatalf("%s: no timeline", r.Slug)
		}
		if err := c.Check(r.Timeline); err != nil {
			t.Errorf("%s's timeline does not show its failure: %v\n%s", r.Slug, err, strings.Join(grading.TimelineText(r.Timeline), "\n"))
		}
		return
	}
	t.Errorf("no scenario %s in the grading of %s", c.Scenario, row.Dir)
}

func record(t *testing.T, challenge, row string, r grading.ScenarioResult) {
	dir := os.Getenv(RecordTimelinesEnv)
	if dir == "" {
		return
	}
	b, err := json.MarshalIndent(r.Timeline, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, fmt.Sprintf("%s.%s.%s.json", challenge, row, r.Slug))
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded %s's timeline in %s", r.Slug, path)
}

var paymentIDRE = regexp.MustCompile(`"payment_id"\s*:\s*"([^"]+)"`)

// doubleChargeAfterTimeout: the provider was told to charge and hang once; the app's first
// charge was made and held, the app answered the harness anyway, and the retry charged the same
// payment again.
func doubleChargeAfterTimeout(tl *scenarios.Timeline) error {
	fault, charges := false, map[string]int{}
	var appCalls []agent.Event
	for _, e := range tl.Events {
		switch {
		case e.Kind == agent.EventFault && e.To == "provider" && strings.HasPrefix(e.What, string(agent.ModeChargeThenHang)):
			fault = true
		case e.Kind == agent.EventRequest && e.To == "provider" && strings.Contains(e.Note, "charged "):
			if m := paymentIDRE.FindStringSubmatch(e.Body); m != nil {
				charges[m[1]]++
			}
		case e.Kind == agent.EventRequest && e.From == "harness" && e.What == "POST /api/payments":
			appCalls = append(appCalls, e)
		}
	}
	if !fault {
		return fmt.Errorf("no charge_then_hang fault on the provider")
	}
	twice := false
	for _, n := range charges {
		twice = twice || n >= 2
	}
	if !twice {
		return fmt.Errorf("no payment charged twice at the provider (charges per payment: %v)", charges)
	}
	if len(appCalls) < 2 || appCalls[0].Key == "" || appCalls[0].Key != appCalls[1].Key {
		return fmt.Errorf("want the payment and its retry with one Idempotency-Key, got %d payments: %+v", len(appCalls), appCalls)
	}
	return nil
}

// breakerNeverOpens: with the downstream failing, the app kept calling it past the five
// consecutive failures that must open the breaker, and never answered 503 itself.
func breakerNeverOpens(tl *scenarios.Timeline) error {
	faulted, failedCalls := false, 0
	for _, e := range tl.Events {
		switch {
		case e.Kind == agent.EventFault && e.To == "downstream" && strings.Contains(e.What, "status 5"):
			faulted = true
		case faulted && e.Kind == agent.EventRequest && e.From == "app" && e.To == "downstream" && e.Status >= 500:
			failedCalls++
		case faulted && e.Kind == agent.EventRequest && e.From == "harness" && e.Status == 503:
			return fmt.Errorf("the app answered 503 at +%dms: a breaker opened", e.End.Milliseconds())
		}
	}
	if !faulted || failedCalls < 6 {
		return fmt.Errorf("fault set: %v; failed downstream calls after it: %d, want more than 5", faulted, failedCalls)
	}
	return nil
}

// originStampede: while the origin was slow, the app fetched one product from it more than
// once at the same time.
func originStampede(tl *scenarios.Timeline) error {
	var fetches []agent.Event
	for _, e := range tl.Events {
		if e.Kind == agent.EventRequest && e.From == "app" && e.To == "downstream" && strings.HasPrefix(e.What, "GET /products/") {
			fetches = append(fetches, e)
		}
	}
	for i, a := range fetches {
		for _, b := range fetches[i+1:] {
			if a.What == b.What && b.At < a.End {
				return nil
			}
		}
	}
	return fmt.Errorf("no two overlapping origin fetches of one product among %d fetches", len(fetches))
}

// burstOverLimit: one client's burst went to both replicas and more than the limit of 10 were
// admitted (each admitted request calls GET /work?client=… downstream).
func burstOverLimit(tl *scenarios.Timeline) error {
	replicas, work := map[string]bool{}, map[string]int{}
	for _, e := range tl.Events {
		switch {
		case e.Kind == agent.EventRequest && e.From == "harness" && strings.HasPrefix(e.What, "GET /api/resource"):
			replicas[e.To] = true
		case e.Kind == agent.EventRequest && e.From == "app" && strings.HasPrefix(e.What, "GET /work?client="):
			work[strings.TrimPrefix(e.What, "GET /work?client=")]++
		}
	}
	if !replicas["app"] || !replicas["app-2"] {
		return fmt.Errorf("the burst reached replicas %v; want app and app-2", replicas)
	}
	for _, n := range work {
		if n > 10 {
			return nil
		}
	}
	return fmt.Errorf("no client admitted more than 10 times: /work calls per client %v", work)
}

var stockRE = regexp.MustCompile(`"stock"\s*:\s*(\d+)`)

// oversold: more orders of one item were answered 201 than it had in stock.
func oversold(tl *scenarios.Timeline) error {
	stock := -1
	created := 0
	for _, e := range tl.Events {
		if e.Kind != agent.EventRequest || e.From != "harness" {
			continue
		}
		if strings.HasPrefix(e.What, "PUT /api/items/") && stock < 0 {
			if m := stockRE.FindStringSubmatch(e.Body); m != nil {
				fmt.Sscan(m[1], &stock)
			}
		}
		if e.What == "POST /api/orders" && e.Status == 201 {
			created++
		}
	}
	if stock < 0 || created <= stock {
		return fmt.Errorf("stock %d, orders answered 201: %d; want more orders than stock", stock, created)
	}
	return nil
}

// lockOutlivesPause: while the holder was paused, the other replica's triggers were all refused
// (409) for as long as the harness kept trying: the lock never expired.
func lockOutlivesPause(tl *scenarios.Timeline) error {
	var paused, unpaused time.Duration
	for _, e := range tl.Events {
		switch {
		case e.Kind == agent.EventPause && e.To == "app" && paused == 0:
			paused = e.At
		case e.Kind == agent.EventUnpause && e.To == "app" && paused != 0 && unpaused == 0:
			unpaused = e.At
		}
	}
	if paused == 0 || unpaused == 0 {
		return fmt.Errorf("no pause and unpause of app (at %s, %s)", paused, unpaused)
	}
	refused := 0
	for _, e := range tl.Events {
		if e.Kind != agent.EventRequest || e.From != "harness" || e.To != "app-2" || e.At < paused || e.At > unpaused {
			continue
		}
		if e.Status != http.StatusConflict {
			return fmt.Errorf("app-2 answered %d at +%dms while app was paused: someone got the lock", e.Status, e.End.Milliseconds())
		}
		refused++
	}
	if refused < 5 {
		return fmt.Errorf("%d triggers of app-2 refused while app was paused; want at least 5", refused)
	}
	return nil
}

// moreThanThreeAttempts: one page read against a hanging catalog made more than the three
// attempts the budget allows.
func moreThanThreeAttempts(tl *scenarios.Timeline) error {
	hung := ""
	attempts := map[string]int{}
	for _, e := range tl.Events {
		switch {
		case e.Kind == agent.EventFault && e.To == "downstream" && e.What == "hang":
			hung = strings.TrimPrefix(e.Note, "for ")
		case hung != "" && e.Kind == agent.EventRequest && e.From == "app" && e.To == "downstream" && strings.HasPrefix(e.What, "GET "+hung):
			attempts[hung]++
		}
	}
	if hung == "" || attempts[hung] <= 3 {
		return fmt.Errorf("hanging path %q, attempts at it %d; want more than 3", hung, attempts[hung])
	}
	return nil
}

// inFlightCutOff: transfers sent before SIGTERM, still in flight when it came, were answered
// with no 201 after it (the connection dropped, a 500): the app stopped instead of draining.
func inFlightCutOff(tl *scenarios.Timeline) error {
	var term time.Duration
	signalled := false
	for _, e := range tl.Events {
		if e.Kind == agent.EventSignal && e.To == "app" && e.What == "SIGTERM" {
			term, signalled = e.At, true
			break
		}
	}
	if !signalled {
		return fmt.Errorf("no SIGTERM sent to app")
	}
	sent, cut := 0, 0
	for _, e := range tl.Events {
		if e.Kind != agent.EventRequest || e.From != "harness" || e.What != "POST /api/transfers" || e.At >= term {
			continue
		}
		sent++
		if e.End > term && e.Status != http.StatusCreated {
			cut++
		}
	}
	if sent < 2 || cut == 0 {
		return fmt.Errorf("%d transfers sent before SIGTERM (+%dms), %d of them answered without a 201 after it; want several sent, one cut off at least",
			sent, term.Milliseconds(), cut)
	}
	return nil
}
