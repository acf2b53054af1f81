// Command quotes is a broken variant of the circuit-breaker reference.
//
// The mistake: no circuit breaker. Every request has its 500 ms deadline and its error
// mapping, but every request calls the downstream however often it has just failed: a failing
// downstream takes the clients' full load (and their retries), and a slow one makes every
// client wait out the deadline instead of getting a fast 503.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

const (
	downstreamTimeout = 500 * time.Millisecond // the contract: 504 when the downstream is slower
	maxBodyBytes      = 1 << 20
)

type server struct {
	downstream string
	client     *http.Client
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
	status, body, err := s.call(r.Context(), symbol)
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
