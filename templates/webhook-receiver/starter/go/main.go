// Command webhooks is the starting point of the webhook-receiver challenge: it serves
// GET /healthz and answers 501 on POST /webhooks. README.md has the contract: the signature
// (HMAC-SHA256 keyed with "holdfast-webhook-secret" over "<Webhook-Id>.<Webhook-Timestamp>.<raw
// body>"), the 5-minute tolerance, applying each event once with PUT
// {DOWNSTREAM_URL}/accounts/{account}, newest version only, a 2xx within 500 ms, retries, and
// nothing acknowledged lost when both replicas are killed.
package main

import (
	"context"
	"encoding/json"
	"log"
	"net/http"
	"os"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
)

type server struct {
	db         *pgxpool.Pool
	downstream string // e.g. http://downstream:8070
}

func main() {
	// pgxpool.New does not connect yet: the first query does. Both replicas share this
	// database.
	pool, err := pgxpool.New(context.Background(), os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatalf("DATABASE_URL: %v", err)
	}
	defer pool.Close()

	s := &server{db: pool, downstream: strings.TrimRight(getenv("DOWNSTREAM_URL", "http://downstream:8070"), "/")}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("POST /webhooks", s.receive)

	addr := ":" + getenv("PORT", "3000")
	log.Printf("listening on %s (%s)", addr, os.Getenv("INSTANCE_ID"))
	log.Fatal(http.ListenAndServe(addr, mux))
}

// receive handles POST /webhooks: verify the delivery, store the event once, answer 2xx.
func (s *server) receive(w http.ResponseWriter, r *http.Request) {
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
