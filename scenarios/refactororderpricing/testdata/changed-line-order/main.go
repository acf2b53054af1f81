// A refactor that changed behaviour: lines with equal totals are ordered by SKU "to make the
// order deterministic", where the service kept them in the order the customer asked for.
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
