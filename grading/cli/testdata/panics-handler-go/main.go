// An app that answers /healthz and panics on every payment: net/http recovers the panic, logs
// it and drops the connection, so the public scenarios fail and the grader annotates the line.
package main

import (
	"net/http"
	"os"

	"example.com/payments/internal/pay"
)

func main() {
	http.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"status":"ok"}`)) })
	http.HandleFunc("/api/payments", func(w http.ResponseWriter, r *http.Request) {
		pay.Record(r.Header.Get("Idempotency-Key"), "pay_1")
	})
	port := os.Getenv("PORT")
	if port == "" {
		port = "3000"
	}
	http.ListenAndServe(":"+port, nil)
}
