package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// serveCharge sends one charge straight to the provider's handler.
func serveCharge(p *Provider, key, payment string) int {
	body, _ := json.Marshal(map[string]any{"amount": 100, "currency": "usd", "payment_id": payment})
	req := httptest.NewRequest(http.MethodPost, "/v1/charges", bytes.NewReader(body))
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	rec := httptest.NewRecorder()
	p.ServeHTTP(rec, req)
	return rec.Code
}

func overflowOf(t *testing.T, list []Overflow, kind OverflowKind) Overflow {
	t.Helper()
	for _, o := range list {
		if o.Kind == kind {
			return o
		}
	}
	t.Fatalf("no %s overflow recorded: %+v", kind, list)
	return Overflow{}
}

// TestProviderBounds: a huge key or payment id is refused and recorded, not kept; the ledger
// stops at MaxCharges and says how many charges the app sent.
func TestProviderBounds(t *testing.T) {
	t.Parallel()
	p := NewProvider()
	defer p.Close()

	if code := serveCharge(p, strings.Repeat("k", 60<<10), "pay_1"); code != http.StatusBadRequest {
		t.Fatalf("a 60 KiB key: got %d, want 400", code)
	}
	if code := serveCharge(p, "k", strings.Repeat("p", 60<<10)); code != http.StatusBadRequest {
		t.Fatalf("a 60 KiB payment_id: got %d, want 400", code)
	}
	body := `{"amount":1,"currency":"usd","payment_id":"` + strings.Repeat("p", MaxChargeBody) + `"}`
	rec := httptest.NewRecorder()
	p.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/charges", strings.NewReader(body)))
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("a body over %d bytes: got %d, want 413", MaxChargeBody, rec.Code)
	}
	if n := len(p.Ledger().Charges); n != 0 {
		t.Fatalf("refused requests charged: %d charges", n)
	}
	key := overflowOf(t, p.Overflows(), OverflowKey)
	if key.Largest != 60<<10 || !strings.Contains(key.Sentence(), "Idempotency-Key of 61440 bytes") {
		t.Fatalf("key overflow: %+v: %s", key, key.Sentence())
	}
	overflowOf(t, p.Overflows(), OverflowPaymentID)
	overflowOf(t, p.Overflows(), OverflowChargeBody)

	for i := range MaxCharges {
		if code := serveCharge(p, fmt.Sprintf("key-%d", i), fmt.Sprintf("pay_%d", i)); code != http.StatusOK {
			t.Fatalf("charge %d within the bound: got %d", i+1, code)
		}
	}
	for i := range 3 {
		if code := serveCharge(p, fmt.Sprintf("more-%d", i), "pay_more"); code != http.StatusInsufficientStorage {
			t.Fatalf("charge %d beyond the bound: got %d, want 507", MaxCharges+i+1, code)
		}
	}
	if code := serveCharge(p, "", "pay_nokey"); code != http.StatusInsufficientStorage {
		t.Fatalf("a keyless charge beyond the bound: got %d, want 507", code)
	}
	if code := serveCharge(p, "key-7", "pay_7"); code != http.StatusOK {
		t.Fatalf("a replay of a kept key still answers: got %d", code)
	}
	l := p.Ledger()
	if len(l.Charges) != MaxCharges {
		t.Fatalf("ledger holds %d charges, want the bound %d", len(l.Charges), MaxCharges)
	}
	led := overflowOf(t, p.Overflows(), OverflowLedger)
	if led.Count != 4 || led.Largest != MaxCharges+4 || !strings.Contains(led.Sentence(), "20004 charges; the brief's bound for one grading is 20000") {
		t.Fatalf("ledger overflow: %+v: %s", led, led.Sentence())
	}
	p.ClearOverflows()
	if o := p.Overflows(); len(o) != 0 {
		t.Fatalf("after ClearOverflows: %+v", o)
	}
}

// TestDownstreamBounds: bodies are cut with their size recorded, long URIs and bodies over the
// bound are refused and recorded, and the record stops at MaxCalls.
func TestDownstreamBounds(t *testing.T) {
	t.Parallel()
	d := NewDownstream()
	defer d.Close()
	serve := func(target string, body string, hdr map[string]string) int {
		req := httptest.NewRequest(http.MethodPost, target, strings.NewReader(body))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		d.ServeHTTP(rec, req)
		return rec.Code
	}
	if code := serve("/big", strings.Repeat("b", 10<<10), map[string]string{"X-Huge": strings.Repeat("h", 8<<10), "X-Small": "s"}); code != 200 {
		t.Fatalf("a 10 KiB body: got %d, want 200", code)
	}
	c := d.Calls(0)[0]
	if len(c.Body) != MaxBodyKept || c.BodyBytes != 10<<10 {
		t.Fatalf("kept %d bytes of the body with size %d; want %d and %d", len(c.Body), c.BodyBytes, MaxBodyKept, 10<<10)
	}
	if _, ok := c.Header["X-Huge"]; ok || c.Header["X-Small"] != "s" {
		t.Fatalf("headers kept: %v", c.Header)
	}
	if code := serve("/"+strings.Repeat("u", MaxURIBytes), "", nil); code != http.StatusRequestURITooLong {
		t.Fatalf("a long path: got %d, want 414", code)
	}
	if code := serve("/huge", strings.Repeat("b", MaxDownstreamBody+1), nil); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("a body over the bound: got %d, want 413", code)
	}
	overflowOf(t, d.Overflows(), OverflowURI)
	overflowOf(t, d.Overflows(), OverflowCallBody)
	for i := 1; i < MaxCalls; i++ {
		if code := serve(fmt.Sprintf("/n/%d", i), "", nil); code != 200 {
			t.Fatalf("call %d within the bound: got %d", i+1, code)
		}
	}
	if code := serve("/one-more", "", nil); code != http.StatusInsufficientStorage {
		t.Fatalf("a call beyond the bound: got %d, want 507", code)
	}
	if n := d.LastSeq(); n != MaxCalls {
		t.Fatalf("record holds %d calls, want %d", n, MaxCalls)
	}
	calls := overflowOf(t, d.Overflows(), OverflowCalls)
	if !strings.Contains(calls.Sentence(), "20001 requests") {
		t.Fatalf("calls overflow: %s", calls.Sentence())
	}
}

// startAgent runs a real agent on loopback, logging to logw, until the test ends. The token and
// the addresses cfg leaves empty are filled in (fresh loopback ports).
func startAgent(t *testing.T, cfg Config, logw io.Writer) (*Server, *Client) {
	t.Helper()
	for _, addr := range []*string{&cfg.ControlAddr, &cfg.ProviderAddr, &cfg.DownstreamAddr} {
		if *addr == "" {
			*addr = freePort(t)
		}
	}
	if cfg.Token == "" {
		cfg.Token = strings.Repeat("t", 32)
	}
	srv, err := NewServer(cfg, slog.New(slog.NewTextHandler(logw, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	c := NewClient("http://"+cfg.ControlAddr, cfg.Token)
	waitFor(t, func() bool { return c.Healthy(ctx) == nil })
	return srv, c
}

// overflowAgent is an agent for the bound tests: traffic logged often, a provider link.
func overflowAgent(t *testing.T, logw io.Writer) (*Server, *Client) {
	return startAgent(t, Config{TrafficEvery: 20 * time.Millisecond,
		Links: []Link{{Name: "provider", Listen: freePort(t), Upstream: "127.0.0.1:1"}}}, logw)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestClientReportsOverflow: after the app went beyond a bound, reading the ledger or the
// downstream's calls fails with an *OverflowError that says what the app did, until the reset
// before the next scenario.
func TestClientReportsOverflow(t *testing.T) {
	t.Parallel()
	var logw syncBuffer
	srv, c := overflowAgent(t, &logw)
	provider := srv.cfg.ProviderAddr
	ctx := context.Background()
	if code, _ := charge(t, "http://"+provider, strings.Repeat("k", 60<<10), 100, "pay_1"); code != http.StatusBadRequest {
		t.Fatalf("a 60 KiB key through the provider: got %d, want 400", code)
	}
	_, err := c.Ledger(ctx)
	var oe *OverflowError
	if !errors.As(err, &oe) || !strings.Contains(err.Error(), "Idempotency-Key of 61440 bytes") {
		t.Fatalf("ledger after a 60 KiB key: got %v, want an *OverflowError naming the key", err)
	}
	if _, err := c.Calls(ctx, 0); !errors.As(err, &oe) {
		t.Fatalf("calls after an overflow: got %v, want an *OverflowError", err)
	}
	if o, err := c.Overflows(ctx); err != nil || len(o) != 1 || o[0].Kind != OverflowKey {
		t.Fatalf("overflows: %+v, %v", o, err)
	}
	if err := c.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Ledger(ctx); err != nil {
		t.Fatalf("ledger after the reset: %v", err)
	}
	// The agent logs what the app sent it, for the runner to read when the agent dies.
	waitFor(t, func() bool { tr, ok := LastTraffic(logw.String()); return ok && tr.Requests == 1 && tr.Bytes > 60<<10 })
}

// TestClientStreamsLargeLedger: a full ledger of maximal charges is larger than the 8 MiB the
// client used to read, and still decodes.
func TestClientStreamsLargeLedger(t *testing.T) {
	t.Parallel()
	var logw syncBuffer
	srv, c := overflowAgent(t, &logw)
	for i := range MaxCharges {
		key := fmt.Sprintf("%0*d", MaxKeyBytes, i)
		if code := serveCharge(srv.provider, key, fmt.Sprintf("%0*d", MaxIDBytes, i)); code != http.StatusOK {
			t.Fatalf("charge %d: %d", i, code)
		}
	}
	size, _ := json.Marshal(srv.provider.Ledger())
	if len(size) <= 8<<20 {
		t.Fatalf("the test's ledger is only %d bytes; it must be larger than the old 8 MiB cap", len(size))
	}
	l, err := c.Ledger(context.Background())
	if err != nil || len(l.Charges) != MaxCharges || l.Charges[MaxCharges-1].IdempotencyKey != fmt.Sprintf("%0*d", MaxKeyBytes, MaxCharges-1) {
		t.Fatalf("a %d-byte ledger: %d charges, %v", len(size), len(l.Charges), err)
	}
}

// TestFakesListenOnLoopback: by default the fakes are reachable only inside the agent, through
// the links (whose upstreams are 127.0.0.1), never from the app's network.
func TestFakesListenOnLoopback(t *testing.T) {
	t.Parallel()
	srv, err := NewServer(Config{Token: strings.Repeat("t", 32)}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for name, addr := range map[string]string{"provider": srv.cfg.ProviderAddr, "downstream": srv.cfg.DownstreamAddr} {
		if !strings.HasPrefix(addr, "127.0.0.1:") {
			t.Errorf("the %s fake listens on %q; want loopback only", name, addr)
		}
	}
}

func TestLastTraffic(t *testing.T) {
	t.Parallel()
	log := "time=x level=INFO msg=\"agent ready\" links=4\n" +
		"time=x level=INFO msg=traffic requests=10 bytes=2048\n" +
		"time=x level=INFO msg=traffic requests=900 bytes=73400320\n" +
		"time=x level=INFO msg=fault link=provider\n"
	got, ok := LastTraffic(log)
	if !ok || got != (Traffic{Requests: 900, Bytes: 73400320}) {
		t.Fatalf("LastTraffic: %+v, %v", got, ok)
	}
	if _, ok := LastTraffic("time=x level=INFO msg=\"agent ready\"\n"); ok {
		t.Fatal("a log without traffic lines: want ok=false")
	}
}

// TestDownstreamKeepsBoundedBytes: calls with large headers and bodies fill the record's byte
// budget long before MaxCalls; beyond it the downstream refuses and records why.
func TestDownstreamKeepsBoundedBytes(t *testing.T) {
	t.Parallel()
	d := NewDownstream()
	defer d.Close()
	body, pad := strings.Repeat("b", 8<<10), strings.Repeat("h", 3<<10)
	refusedAt := 0
	for i := 1; i <= MaxCalls && refusedAt == 0; i++ {
		req := httptest.NewRequest(http.MethodPost, fmt.Sprintf("/n/%d", i), strings.NewReader(body))
		req.Header.Set("X-Pad", pad)
		rec := httptest.NewRecorder()
		d.ServeHTTP(rec, req)
		if rec.Code == http.StatusInsufficientStorage {
			refusedAt = i
		}
	}
	perCall := MaxBodyKept + len("X-Pad") + len(pad)
	if want := MaxKeptBytes/perCall + 1; refusedAt != want {
		t.Fatalf("first refusal at call %d; want %d (%d MiB kept at %d bytes a call)", refusedAt, want, MaxKeptBytes>>20, perCall)
	}
	o := overflowOf(t, d.Overflows(), OverflowKept)
	if !strings.Contains(o.Sentence(), "more than 32 MiB of headers and bodies") {
		t.Fatalf("kept overflow: %s", o.Sentence())
	}
}
