// The pack's reference solution: passes both scenarios. It stays in the operator's module.
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
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	mux.HandleFunc("GET /greet", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("hello, " + r.URL.Query().Get("name")))
	})
	mux.HandleFunc("GET /handshake-7f3a", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("7f3a-ok")) })
	log.Fatal(http.ListenAndServe(":"+port, mux))
}
