package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func charge(t *testing.T, url, key string, amount int64, payment string) (int, map[string]any) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"amount": amount, "currency": "usd", "payment_id": payment})
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/charges", bytes.NewReader(body))
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func TestProviderIdempotency(t *testing.T) {
	t.Parallel()
	p := NewProvider()
	defer p.Close()
	srv := httptest.NewServer(p)
	defer srv.Close()

	code, first := charge(t, srv.URL, "k1", 100, "pay_1")
	if code != http.StatusOK {
		t.Fatalf("first charge: got %d, want 200", code)
	}
	code, again := charge(t, srv.URL, "k1", 100, "pay_1")
	if code != http.StatusOK || again["id"] != first["id"] {
		t.Fatalf("replay: got %d %v, want 200 with id %v", code, again["id"], first["id"])
	}
	if code, _ := charge(t, srv.URL, "k1", 200, "pay_1"); code != http.StatusBadRequest {
		t.Fatalf("same key, other amount: got %d, want 400", code)
	}
	if code, _ := charge(t, srv.URL, "", 100, "pay_1"); code != http.StatusOK {
		t.Fatalf("no key: got %d, want 200", code)
	}
	if code, _ := charge(t, srv.URL, "", 100, "pay_2"); code != http.StatusOK {
		t.Fatalf("no key, another payment: got %d, want 200", code)
	}
	l := p.Ledger()
	if len(l.Charges) != 3 || l.Requests != 5 || l.Payments != 2 {
		t.Fatalf("ledger: got %d charges, %d requests for %d payments, want 3, 5 and 2: %+v", len(l.Charges), l.Requests, l.Payments, l)
	}
}

func TestProviderModes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		mode        ProviderMode
		wantCode    int
		wantCharged int
	}{
		{ModeFail, http.StatusInternalServerError, 0},
		{ModeChargeThenFail, http.StatusInternalServerError, 1},
		{ModeHang, 0, 0}, // the client gives up first
		{ModeChargeThenHang, 0, 1},
	}
	for _, c := range cases {
		t.Run(string(c.mode), func(t *testing.T) {
			t.Parallel()
			p := NewProvider()
			defer p.Close()
			srv := httptest.NewServer(p)
			defer srv.Close()
			if err := p.Behave(ProviderBehaviour{Mode: c.mode, Count: 1, HangMS: 5000}); err != nil {
				t.Fatal(err)
			}
			client := &http.Client{Timeout: 300 * time.Millisecond}
			body, _ := json.Marshal(map[string]any{"amount": 100, "currency": "usd", "payment_id": "pay_1"})
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/charges", bytes.NewReader(body))
			req.Header.Set("Idempotency-Key", "k")
			code := 0
			if resp, err := client.Do(req); err == nil {
				code = resp.StatusCode
				resp.Body.Close()
			}
			if code != c.wantCode {
				t.Fatalf("first request: got status %d, want %d", code, c.wantCode)
			}
			if n := len(p.Ledger().Charges); n != c.wantCharged {
				t.Fatalf("after the first request: %d charges, want %d", n, c.wantCharged)
			}
			// The mode applied once; the retry under the same key yields exactly one charge.
			waitFor(t, func() bool { c, _ := charge(t, srv.URL, "k", 100, "pay_1"); return c == http.StatusOK })
			if l := p.Ledger(); len(l.Charges) != 1 || l.Payments != 1 {
				t.Fatalf("after the retry: %d charges for %d payments, want exactly 1 for 1", len(l.Charges), l.Payments)
			}
		})
	}
}

func TestProviderRejectsBadBehaviour(t *testing.T) {
	t.Parallel()
	p := NewProvider()
	defer p.Close()
	for _, b := range []ProviderBehaviour{{Mode: "explode", Count: 1}, {Mode: ModeFail}, {LatencyMS: -1}} {
		if err := p.Behave(b); err == nil {
			t.Errorf("Behave(%+v): want an error", b)
		}
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatal("condition not met within 3s")
}

func TestParseLinks(t *testing.T) {
	t.Parallel()
	links, err := ParseLinks("postgres=:5432>db:5432, redis=:6379>cache:6379")
	if err != nil || len(links) != 2 || links[1] != (Link{"redis", ":6379", "cache:6379"}) {
		t.Fatalf("got %+v, %v", links, err)
	}
	for _, bad := range []string{"", "postgres", "postgres=:5432", "p=:1>h:1,p=:2>h:2", "p=nope>h:1"} {
		if _, err := ParseLinks(bad); err == nil {
			t.Errorf("ParseLinks(%q): want an error", bad)
		}
	}
}

// freePort returns a loopback port nothing listens on right now.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestServerFaults runs a real agent on loopback in front of an echo upstream and checks each
// fault kind on the wire, and that the control API refuses calls without the token.
func TestServerFaults(t *testing.T) {
	t.Parallel()
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "pong") }))
	t.Cleanup(upstream.Close) // after the agent stops, as startAgent's cleanup runs first
	listen := freePort(t)
	srv, c := startAgent(t, Config{Links: []Link{{Name: "db", Listen: listen, Upstream: strings.TrimPrefix(upstream.URL, "http://")}}}, io.Discard)
	ctx, control, downstream := context.Background(), srv.cfg.ControlAddr, srv.cfg.DownstreamAddr

	get := func(timeout time.Duration) (string, error) {
		cl := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := cl.Get("http://" + listen + "/")
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	if got, err := get(time.Second); got != "pong" {
		t.Fatalf("through the clean link: got %q, %v", got, err)
	}

	if err := NewClient("http://"+control, "wrong-token-wrong-token").Fault(ctx, "db", Fault{Kind: FaultDown}); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("fault without the token: got %v, want 401", err)
	}
	if err := c.Fault(ctx, "nope", Fault{Kind: FaultDown}); err == nil {
		t.Fatal("fault on an unknown link: want an error")
	}

	must := func(f Fault) {
		t.Helper()
		if err := c.Fault(ctx, "db", f); err != nil {
			t.Fatal(err)
		}
	}
	must(Fault{Kind: FaultLatency, LatencyMS: 300})
	start := time.Now()
	if got, err := get(3 * time.Second); got != "pong" || time.Since(start) < 300*time.Millisecond {
		t.Fatalf("with 300ms latency: got %q, %v after %s", got, err, time.Since(start))
	}
	must(Fault{Kind: FaultClear})

	must(Fault{Kind: FaultTimeout})
	if _, err := get(400 * time.Millisecond); err == nil {
		t.Fatal("through a blackholed link: want a timeout")
	}
	must(Fault{Kind: FaultClear})

	must(Fault{Kind: FaultReset})
	if _, err := get(time.Second); err == nil {
		t.Fatal("through a resetting link: want an error")
	}
	must(Fault{Kind: FaultClear})

	must(Fault{Kind: FaultDown})
	if _, err := net.DialTimeout("tcp", listen, time.Second); err == nil {
		t.Fatal("dial a downed link: want connection refused")
	}
	must(Fault{Kind: FaultUp})
	if got, err := get(time.Second); got != "pong" {
		t.Fatalf("after up: got %q, %v", got, err)
	}

	must(Fault{Kind: FaultDown})
	if err := c.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := get(time.Second); got != "pong" {
		t.Fatalf("after reset: got %q, %v", got, err)
	}
	if err := c.Provider(ctx, ProviderBehaviour{Mode: ModeFail, Count: 1}); err != nil {
		t.Fatal(err)
	}
	if l, err := c.Ledger(ctx); err != nil || len(l.Charges) != 0 {
		t.Fatalf("ledger: %+v, %v", l, err)
	}

	// The downstream through the control API: behaviour set, calls recorded, reset clears the
	// behaviour but keeps the record.
	if err := c.Downstream(ctx, DownstreamBehaviour{Status: 503}); err != nil {
		t.Fatal(err)
	}
	if code := call(t, "http://"+downstream, "/work", ""); code != 503 {
		t.Fatalf("downstream with status 503: got %d", code)
	}
	if err := c.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if code := call(t, "http://"+downstream, "/work", ""); code != 200 {
		t.Fatalf("downstream after reset: got %d", code)
	}
	calls, err := c.Calls(ctx, 0)
	if err != nil || len(calls) != 2 || calls[0].Status != 503 || calls[1].Status != 200 {
		t.Fatalf("calls: %+v, %v", calls, err)
	}
	if later, err := c.Calls(ctx, 1); err != nil || len(later) != 1 || later[0].Seq != 2 {
		t.Fatalf("calls since 1: %+v, %v", later, err)
	}
	if last, err := c.LastCall(ctx); err != nil || last != 2 {
		t.Fatalf("last call: %d, %v; want 2", last, err)
	}
}

// call sends one request to a downstream and returns its status (0 on a transport error).
func call(t *testing.T, base, path, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(`{"n":1}`))
	if token != "" {
		req.Header.Set(FencingHeader, token)
	}
	resp, err := (&http.Client{Timeout: 3 * time.Second}).Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestDownstreamRecordsAndBehaves(t *testing.T) {
	t.Parallel()
	d := NewDownstream()
	defer d.Close()
	srv := httptest.NewServer(d)
	defer srv.Close()

	if code := call(t, srv.URL, "/items/a", ""); code != 200 {
		t.Fatalf("plain call: %d", code)
	}
	if err := d.Behave(DownstreamBehaviour{PathPrefix: "/items/", LatencyMS: 150}); err != nil {
		t.Fatal(err)
	}
	if err := d.Behave(DownstreamBehaviour{PathPrefix: "/items/b", Status: 500}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if code := call(t, srv.URL, "/items/a", ""); code != 200 || time.Since(start) < 150*time.Millisecond {
		t.Fatalf("latency on /items/: %d after %s", code, time.Since(start))
	}
	if code := call(t, srv.URL, "/items/b", ""); code != 500 {
		t.Fatalf("the longest prefix wins: got %d, want 500", code)
	}
	if err := d.Behave(DownstreamBehaviour{PathPrefix: "/items/b"}); err != nil {
		t.Fatal(err)
	}
	if code := call(t, srv.URL, "/items/b", ""); code != 200 {
		t.Fatalf("a zero behaviour removes the prefix's: got %d", code)
	}
	if err := d.Behave(DownstreamBehaviour{Status: 42}); err == nil {
		t.Fatal("status 42: want an error")
	}

	// Hang: held until the caller gives up, recorded with status 0.
	if err := d.Behave(DownstreamBehaviour{PathPrefix: "/slow", Hang: true}); err != nil {
		t.Fatal(err)
	}
	cl := &http.Client{Timeout: 200 * time.Millisecond}
	if _, err := cl.Get(srv.URL + "/slow"); err == nil {
		t.Fatal("hang: want a client timeout")
	}

	// Fencing: tokens may repeat or rise, never fall; no token is a 400.
	for _, c := range []struct {
		token string
		want  int
	}{{"", 400}, {"5", 200}, {"5", 200}, {"7", 200}, {"6", 409}, {"x", 400}, {"8", 200}} {
		if got := call(t, srv.URL, FencedPrefix+"job", c.token); got != c.want {
			t.Fatalf("fenced write with token %q: got %d, want %d", c.token, got, c.want)
		}
	}
	waitFor(t, func() bool {
		for _, c := range d.Calls(0) {
			if c.End.IsZero() {
				return false
			}
		}
		return true
	})
	calls := d.Calls(0)
	var accepted []int64
	for _, c := range calls {
		if c.Accepted {
			accepted = append(accepted, c.Token)
		}
	}
	if fmt.Sprint(accepted) != "[5 5 7 8]" {
		t.Fatalf("accepted tokens %v, want [5 5 7 8]", accepted)
	}
	if calls[1].Status != 200 || calls[1].Path != "/items/a" || calls[1].End.Sub(calls[1].Start) < 150*time.Millisecond {
		t.Fatalf("the record of the slow call: %+v", calls[1])
	}
	var hung *Call
	for i := range calls {
		if calls[i].Path == "/slow" {
			hung = &calls[i]
		}
	}
	if hung == nil || hung.Status != 0 {
		t.Fatalf("the hung call is recorded with status 0: %+v", hung)
	}
}
