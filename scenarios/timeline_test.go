package scenarios_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/agent"
)

// startAgent runs a real agent on loopback and returns its client and its provider's URL.
func startAgent(t *testing.T) (*agent.Client, string) {
	t.Helper()
	addr := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}
	ctl, prov, down := addr(), addr(), addr()
	token := strings.Repeat("t", 32)
	srv, err := agent.NewServer(agent.Config{Token: token, ControlAddr: ctl, ProviderAddr: prov, DownstreamAddr: down}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = srv.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	c := agent.NewClient("http://"+ctl, token)
	for i := 0; c.Healthy(context.Background()) != nil; i++ {
		if i == 100 {
			t.Fatal("the agent did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return c, "http://" + prov
}

// chargingApp is a learner's app on loopback: each request waits think, then charges the
// provider once (payment_id: the request's id query parameter, or pay_1) and answers 201, or
// 502 when the provider cannot be reached.
func chargingApp(t *testing.T, provider string, think time.Duration) *httptest.Server {
	t.Helper()
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(think)
		id := r.URL.Query().Get("id")
		if id == "" {
			id = "pay_1"
		}
		resp, err := http.Post(provider+"/v1/charges", "application/json", strings.NewReader(`{"amount":5,"currency":"usd","payment_id":"`+id+`"}`))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		resp.Body.Close()
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(app.Close)
	return app
}

// TestTimelineOnOneClock: the agent's events land on the harness's clock, measured from the
// scenario's start, not from the agent's: a charge made 100 ms into a scenario that began
// 400 ms after the agent started reads as about +100ms, between the request that caused it and
// its answer.
func TestTimelineOnOneClock(t *testing.T) {
	t.Parallel()
	c, provider := startAgent(t)
	app := chargingApp(t, provider, 100*time.Millisecond)
	h := scenarios.NewHarness(urlTarget{app.URL}, c, "", "")
	ctx := context.Background()
	time.Sleep(400 * time.Millisecond)
	if err := c.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	h.BeginTimeline()
	if err := c.Provider(ctx, agent.ProviderBehaviour{LatencyMS: 50}); err != nil {
		t.Fatal(err)
	}
	r := h.Do(ctx, scenarios.Request{Method: http.MethodPost, Path: "/pay", Header: map[string]string{"idempotency-key": "key-1"}, Body: []byte(`{"amount":5}`)})
	if r.Status != http.StatusCreated {
		t.Fatalf("app answered %s", r.Describe())
	}
	if err := h.Target.Kill(ctx, scenarios.App, "SIGTERM"); err != nil {
		t.Fatal(err)
	}
	tl, err := h.Timeline(ctx)
	if err != nil || tl.Note != "" {
		t.Fatalf("timeline: %v (note %q)", err, tl.Note)
	}
	var kinds []string
	for _, e := range tl.Events {
		kinds = append(kinds, string(e.Kind)+":"+e.From+">"+e.To)
	}
	want := "fault:harness>provider request:harness>app request:app>provider signal:harness>app"
	if strings.Join(kinds, " ") != want {
		t.Fatalf("events %v; want %s", kinds, want)
	}
	pay, charge := tl.Events[1], tl.Events[2]
	if charge.At < 90*time.Millisecond || charge.At > 300*time.Millisecond {
		t.Errorf("the charge at %s; want about 100ms after the scenario's start (the agent started 400 ms before it)", charge.At)
	}
	if charge.At < pay.At || charge.End > pay.End || charge.End-charge.At < 40*time.Millisecond {
		t.Errorf("charge %s–%s outside its request %s–%s, or shorter than the provider's 50 ms latency", charge.At, charge.End, pay.At, pay.End)
	}
	if pay.Key != "key-1" || pay.Body != `{"amount":5}` || pay.Status != http.StatusCreated || pay.To != "app" {
		t.Errorf("the harness's request %+v", pay)
	}
	if charge.Status != http.StatusOK || charge.Note != "charged ch_000001" {
		t.Errorf("the app's charge %+v", charge)
	}
}

// TestTimelineIsBounded: thousands of requests leave a timeline of MaxTimeline events and a
// gap that counts the rest; the harness keeps the first and the latest, and says when the agent
// could not be read.
func TestTimelineIsBounded(t *testing.T) {
	t.Parallel()
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTooManyRequests) }))
	defer app.Close()
	dead := agent.NewClient("http://127.0.0.1:1", strings.Repeat("t", 32))
	h := scenarios.NewHarness(urlTarget{app.URL}, dead, "", "")
	h.BeginTimeline()
	const n = 2000
	for i := range n / 100 {
		h.Concurrent(context.Background(), 100, func(j int) scenarios.Request {
			return scenarios.Request{Path: "/r/" + string(rune('a'+i%26))}
		})
	}
	tl, err := h.Timeline(context.Background())
	if len(tl.Events) != scenarios.MaxTimeline+1 {
		t.Fatalf("%d events; want %d and a gap", len(tl.Events), scenarios.MaxTimeline)
	}
	omitted := 0
	for _, e := range tl.Events {
		if e.Kind == agent.EventGap {
			omitted += e.Omitted
		} else if e.Status != http.StatusTooManyRequests {
			t.Fatalf("event %+v; want the app's 429", e)
		}
	}
	if omitted != n-scenarios.MaxTimeline {
		t.Fatalf("gaps omit %d events; want %d", omitted, n-scenarios.MaxTimeline)
	}
	if last := tl.Events[len(tl.Events)-1]; last.What != "GET /r/t" {
		t.Fatalf("last event %q; want one of the last burst's", last.What)
	}
	if !strings.Contains(tl.Note, "did not answer") || strings.Contains(tl.Note, "127.0.0.1") || err == nil {
		t.Fatalf("note %q, error %v; want the note to say the agent's record is missing in the learner's words, the error why", tl.Note, err)
	}
}

// TestTimelineLeavesOutAnEarlierScenario: a request an earlier scenario (a hidden one, say)
// left in flight, answered while the next scenario runs, shows nowhere in that scenario's
// timeline: neither as its own event nor as the answer of one of the next scenario's; nor does
// one that a goroutine it left behind sends once it is over.
func TestTimelineLeavesOutAnEarlierScenario(t *testing.T) {
	t.Parallel()
	reached, release := make(chan struct{}), make(chan struct{})
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hidden" {
			close(reached)
			<-release
			w.WriteHeader(http.StatusTeapot)
			_, _ = w.Write([]byte(`{"secret":"what the hidden scenario checks"}`))
			return
		}
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	defer app.Close()
	h := scenarios.NewHarness(urlTarget{app.URL}, nil, "", "")
	ctx := context.Background()
	hidden, over := context.WithCancel(ctx)
	h.BeginTimeline() // the hidden scenario
	done := make(chan struct{})
	go func() { defer close(done); h.Do(ctx, scenarios.Request{Path: "/hidden"}) }()
	<-reached
	over()
	h.BeginTimeline() // the public one
	if r := h.Do(hidden, scenarios.Request{Path: "/hidden-late"}); r.Err == nil {
		t.Fatalf("a request of a scenario that is over was sent: %s", r.Describe())
	}
	if r := h.Do(ctx, scenarios.Request{Path: "/public"}); r.Status != http.StatusOK {
		t.Fatalf("public request: %s", r.Describe())
	}
	close(release)
	<-done
	tl, err := h.Timeline(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(tl.Events) != 1 {
		t.Fatalf("%d events %+v; want the public request alone", len(tl.Events), tl.Events)
	}
	if e := tl.Events[0]; e.What != "GET /public" || e.Status != http.StatusOK || e.Answer != `{"ok":true}` {
		t.Fatalf("the public request reads %+v; want its own 200 and answer", e)
	}
}

// TestTimelineHasRequestsSentOutsideDo: a request a scenario sends through a client of its own
// reads on the timeline as Do's do, with its answer, or with the error that stood for one.
func TestTimelineHasRequestsSentOutsideDo(t *testing.T) {
	t.Parallel()
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"id":"t1"}`))
	}))
	defer app.Close()
	h := scenarios.NewHarness(urlTarget{app.URL}, nil, "", "")
	h.BeginTimeline()
	r := scenarios.Request{Method: http.MethodPost, Path: "/api/transfers", Body: []byte(`{"id":"t1"}`)}
	answered := h.Sent(r)
	resp, err := http.Post(app.URL+r.Path, "application/json", strings.NewReader(string(r.Body)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	answered(scenarios.Response{Status: resp.StatusCode, Body: []byte(`{"id":"t1"}`)})
	h.Sent(scenarios.Request{Path: "/readyz"})(scenarios.Response{Err: errors.New("read tcp: connection reset by peer")})
	tl, err := h.Timeline(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(tl.Events) != 2 {
		t.Fatalf("%d events %+v; want both requests", len(tl.Events), tl.Events)
	}
	if e := tl.Events[0]; e.Kind != agent.EventRequest || e.From != "harness" || e.To != "app" || e.What != "POST /api/transfers" ||
		e.Body != `{"id":"t1"}` || e.Status != http.StatusCreated || e.Answer != `{"id":"t1"}` || e.End < e.At {
		t.Errorf("the transfer reads %+v", e)
	}
	if e := tl.Events[1]; e.What != "GET /readyz" || e.Status != 0 || e.Note != "connection reset" || e.End == 0 {
		t.Errorf("the dropped probe reads %+v; want GET, no status, the error", e)
	}
}

// TestTimelineBegunAgainShowsOnlyTheRound: a scenario of several rounds begins the timeline
// again at each round, and the agent's events of the earlier round are left out with the
// harness's (a round's events would otherwise read as +0).
func TestTimelineBegunAgainShowsOnlyTheRound(t *testing.T) {
	t.Parallel()
	c, provider := startAgent(t)
	app := chargingApp(t, provider, 0)
	h := scenarios.NewHarness(urlTarget{app.URL}, c, "", "")
	ctx := context.Background()
	if err := c.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	h.BeginTimeline()
	for _, id := range []string{"round-1", "round-2"} {
		h.BeginTimeline()
		if r := h.Do(ctx, scenarios.Request{Method: http.MethodPost, Path: "/pay?id=" + id}); r.Status != http.StatusCreated {
			t.Fatalf("app answered %s", r.Describe())
		}
		time.Sleep(50 * time.Millisecond)
	}
	tl, err := h.Timeline(ctx)
	if err != nil || tl.Note != "" {
		t.Fatalf("timeline: %v (note %q)", err, tl.Note)
	}
	var got []string
	for _, e := range tl.Events {
		got = append(got, string(e.Kind)+":"+e.From+">"+e.To+" "+e.What)
	}
	if len(got) != 2 || !strings.Contains(got[0], "round-2") || !strings.HasPrefix(got[1], "request:app>provider") {
		t.Fatalf("events %q; want round 2's request and its charge only", got)
	}
}
