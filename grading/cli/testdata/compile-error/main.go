package main

import "net/http"

func main() {
	http.HandleFunc("/healthz", healthz)
	http.ListenAndServe(":3000", nil)
}
