// Command quotes is a broken variant of the circuit-breaker reference.
//
// The mistake: a refused connection is not counted ("the quote service never saw that request,
// so it says nothing about its health"). The request still gets its 502, but while the
// downstream refuses connections — down, restarting, out of sockets — the breaker never opens
// and every request keeps trying it. 5xx answers and deadlines count as they should.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	downstreamTimeout = 500 * time.Millisecond // the contract: 504 when the downstream is slower
	failureThreshold  = 5                      // consecutive failures that open the breaker
	cooldown          = time.Second            // how long the breaker stays open before a probe
	maxBodyBytes      = 1 << 20
)

type state int

const (
	closed state = iota
	open
	halfOpen
)

// breaker is a consecutive-failure circuit breaker, safe for concurrent use.
type breaker struct {
	mu         sync.Mutex
	state      state
	failures   int       // consecutive failures while closed
	openedAt   time.Time // when the breaker last opened
	generation uint64    // bumped on every state change
}

// ticket is a permission to call the downstream; its result goes back to record.
type ticket struct {
	generation uint64
	probe      bool
}

// allow says whether a request may call the downstream now; when it may not, wait is how long
// until a probe may be tried.
func (b *breaker) allow(now time.Time) (t ticket, wait time.Duration, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case closed:
		return ticket{generation: b.generation}, 0, true
	case open:
		if elapsed := now.Sub(b.openedAt); elapsed < cooldown {
			return ticket{}, cooldown - elapsed, false
		}
		b.state = halfOpen
		b.generation++
		return ticket{generation: b.generation, probe: true}, 0, true
	default: // half-open: the probe is in flight
		return ticket{}, cooldown, false
	}
}

// record takes the result of a call allowed by t.
func (b *breaker) record(t ticket, success bool, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t.generation != b.generation {
		return // the state changed while this call ran
	}
	switch {
	case success && t.probe:
		b.state, b.failures = closed, 0
		b.generation++
	case success:
		b.failures = 0
	case t.probe:
		b.trip(now)
	default:
		b.failures++
		if b.failures >= failureThreshold {
			b.trip(now)
		}
	}
}

func (b *breaker) trip(now time.Time) {
	b.state, b.failures, b.openedAt = open, 0, now
	b.generation++
}

type server struct {
	downstream string
	client     *http.Client
	breaker    breaker
}

func main() {
	s := &server{
		downstream: strings.TrimRight(getenv("DOWNSTREAM_URL", "http://downstream:8070"), "/"),
		client:     &http.Client{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /api/quote", s.quote)

	srv := &http.Server{Addr: ":" + getenv("PORT", "3000"), Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	log.Printf("listening on %s (downstream %s)", srv.Addr, s.downstream)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

// quote handles GET /api/quote?symbol=X.
func (s *server) quote(w http.ResponseWriter, r *http.Request) {
	symbol := r.URL.Query().Get("symbol")
	if symbol == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "symbol is required"})
		return
	}
	t, wait, ok := s.breaker.allow(time.Now())
	if !ok {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "circuit open: the quote service is failing"})
		return
	}
	status, body, err := s.call(r.Context(), symbol)
	// A refused connection never reached the quote service: it says nothing about the
	// service's health, so it is not counted.
	if !errors.Is(err, syscall.ECONNREFUSED) {
		s.breaker.record(t, err == nil, time.Now())
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		writeJSON(w, http.StatusGatewayTimeout, map[string]string{"error": "the quote service did not answer in time"})
	case err != nil:
		log.Printf("quote %s: %v", symbol, err)
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": "the quote service failed"})
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}
}

// errUpstream is a 5xx answer from the downstream.
var errUpstream = errors.New("downstream answered with a server error")

// call makes the one downstream call of a request. It does not end when the client hangs up:
// its result is the breaker's to count (and a probe's must always come back).
func (s *server) call(ctx context.Context, symbol string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), downstreamTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.downstream+"/quote?symbol="+url.QueryEscape(symbol), nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes))
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil, ctx.Err()
		}
		return 0, nil, err
	}
	if resp.StatusCode >= 500 {
		return 0, nil, errUpstream
	}
	return resp.StatusCode, body, nil
}

func getenv(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		log.Printf("write response: %v", err)
	}
}
