// Command work is the starting point of the load-shedding challenge: it serves GET /healthz and
// answers 501 on POST /api/work. README.md has the contract: the downstream call and its 1 s
// deadline, the limit (4 requests in flight, a wait of 100 ms at most, 503 with Retry-After
// beyond it), health checks never shed, and how it is graded. Only the standard library is used.
package main

import (
	"encoding/json"
	"log"
	"net/http"
	"os"
	"strings"
)

type server struct {
	downstream string // e.g. http://downstream:8070; the app calls POST {downstream}/work
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
	mux.HandleFunc("POST /api/work", s.work)

	addr := ":" + getenv("PORT", "3000")
	log.Printf("listening on %s (downstream %s)", addr, s.downstream)
	log.Fatal(http.ListenAndServe(addr, mux))
}

// work handles POST /api/work {"id": "..."}: with one of 4 permits, POST {downstream}/work.
func (s *server) work(w http.ResponseWriter, r *http.Request) {
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
