// A broken variant: greets the wrong way (the public scenario fails) and refuses the
// handshake (the hidden one fails), logging while it does.
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
		w.Write([]byte("hi, " + r.URL.Query().Get("name")))
	})
	mux.HandleFunc("GET /handshake-7f3a", func(w http.ResponseWriter, r *http.Request) {
		log.Print("refusing the 7f3a handshake")
		http.Error(w, "no handshake here", http.StatusTeapot)
	})
	log.Fatal(http.ListenAndServe(":"+port, mux))
}
