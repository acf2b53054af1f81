// Command work is a broken variant of the load-shedding challenge: once it has shed a request it
// keeps shedding every request for 2 s ("back off so we do not flap"), though the work in flight
// finished long before: it refuses clients it could serve.
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

	mu        sync.Mutex
	shedUntil time.Time // while in the future, every request is shed
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
	s.mu.Lock()
	cooling := time.Now().Before(s.shedUntil)
	s.mu.Unlock()
	admitted := false
	if !cooling {
		select {
		case s.permits <- struct{}{}:
			admitted = true
		default:
		}
	}
	if !admitted {
		if !cooling {
			s.mu.Lock()
			s.shedUntil = time.Now().Add(2 * time.Second)
			s.mu.Unlock()
		}
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "overloaded: try again later"})
		return
	}
	defer func() { <-s.permits }()

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
