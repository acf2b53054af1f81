// A refactor that changed behaviour: the volume discounts were rewritten from the product
// sheet's words "more than 10 / more than 50 units", but the service gave them from exactly 10
// and exactly 50.
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
