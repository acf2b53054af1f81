// Command quotes is the starting point of the circuit-breaker challenge: it serves GET /healthz
// and answers 501 on GET /api/quote. README.md has the contract: the downstream call and its
// 500 ms deadline, the breaker's numbers (5 consecutive failures, 1 s cooldown, one probe) and
// how it is graded. Only the standard library is used.
package main

import (
	"encoding/json"
	"log"
	"net/http"
	"os"
	"strings"
)

type server struct {
	downstream string // e.g. http://downstream:8070; the app calls GET {downstream}/quote?symbol=X
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

	addr := ":" + getenv("PORT", "3000")
	log.Printf("listening on %s (downstream %s)", addr, s.downstream)
	log.Fatal(http.ListenAndServe(addr, mux))
}

// quote handles GET /api/quote?symbol=X: through the breaker, GET {downstream}/quote?symbol=X.
func (s *server) quote(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusNotImplemented, map[string]string{"error": "not implemented"})
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
