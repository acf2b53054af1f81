// A refactor that changed behaviour: repeated products are summed in a map and the lines are
// rebuilt in the order each product was last asked for, where the service kept the position
// where it first appeared. Only lines whose totals tie show it.
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
