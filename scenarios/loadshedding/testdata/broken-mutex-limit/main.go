// Command work is a broken variant of the load-shedding challenge: the limiter is a mutex taken
// with TryLock ("one call at a time protects the downstream"), a limit of 1 where the contract
// says 4: it sheds requests it had room for.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

const (
	permits  = 4
	deadline = time.Second
	maxID    = 64
)

type server struct {
	downstream string
	client     *http.Client
	permits    chan struct{}
	busy       sync.Mutex // held while a call is in flight
}

func main() {
	s := &server{
		downstream: strings.TrimRight(getenv("DOWNSTREAM_URL", "http://downstream:8070"), "/"),
		client:     &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: permits}},
		permits:    make(chan struct{}, permits),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("POST /api/work", s.work)
	addr := ":" + getenv("PORT", "3000")
	log.Printf("listening on %s (downstream %s)", addr, s.downstream)
	log.Fatal(http.ListenAndServe(addr, mux))
}

func (s *server) work(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ID string `json:"id"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&in); err != nil || in.ID == "" || len(in.ID) > maxID {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "the body must be {\"id\": \"...\"} with an id of 1 to 64 characters"})
		return
	}
	if !s.busy.TryLock() {
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "overloaded: try again later"})
		return
	}
	defer s.busy.Unlock()

	ctx, cancel := context.WithTimeout(r.Context(), deadline)
	defer cancel()
	body, _ := json.Marshal(map[string]string{"id": in.ID})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.downstream+"/work", bytes.NewReader(body))
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			writeJSON(w, http.StatusGatewayTimeout, map[string]string{"error": "the downstream did not answer within 1 s"})
			return
		}
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": "the downstream failed: " + err.Error()})
		return
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		writeJSON(w, http.StatusGatewayTimeout, map[string]string{"error": "the downstream did not answer within 1 s"})
	case err != nil || resp.StatusCode >= 500:
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": "the downstream failed"})
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(data)
	}
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
