// A refactor that changed behaviour: the hand-written half-to-even division was replaced by
// math.Round, which rounds half away from zero (276.5 → 277 instead of 276).
package main

import (
	"log"
	"net/http"
	"os"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "3000"
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	mux.HandleFunc("/api/quote", handleQuote)
	log.Printf("pricing listening on :%s", port)
	log.Fatal(http.ListenAndServe(":"+port, mux))
}
