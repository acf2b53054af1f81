// A flooding submission: it answers /healthz like a good app, and on /flood sends the downstream
// service as many large requests as it is told, as fast as it can, as a retry storm would. It
// also answers the harness badly: /huge streams 1 GiB, /headers sends 8 MiB of headers, /trickle
// sends a byte a second forever.
package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	http.HandleFunc("/flood", flood)
	http.HandleFunc("/huge", func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("x", 1<<20))
		for i := 0; i < 1024; i++ {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	http.HandleFunc("/headers", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Big", strings.Repeat("h", 8<<20))
		w.WriteHeader(http.StatusOK)
	})
	http.HandleFunc("/trickle", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		for {
			if _, err := w.Write([]byte("x")); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(time.Second):
			}
		}
	})
	http.ListenAndServe(":"+os.Getenv("PORT"), nil)
}

// flood sends n POSTs to the downstream, c at a time, each with a header and a body of pad bytes
// (default: a 3 KiB header and a 4 KiB body).
func flood(w http.ResponseWriter, r *http.Request) {
	n, _ := strconv.Atoi(r.URL.Query().Get("n"))
	c, _ := strconv.Atoi(r.URL.Query().Get("c"))
	if c <= 0 {
		c = 16
	}
	base := os.Getenv("DOWNSTREAM_URL")
	pad, body := strings.Repeat("h", 3<<10), strings.Repeat("b", 4<<10)
	if p := r.URL.Query().Get("pad"); p != "" {
		n, _ := strconv.Atoi(p)
		pad, body = strings.Repeat("h", n), strings.Repeat("b", n)
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: c}}
	var next, ok, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/flood/%d", base, i), strings.NewReader(body))
				req.Header.Set("X-Pad", pad)
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					if failed.Load() > 100 {
						return // the downstream is gone
					}
					continue
				}
				resp.Body.Close()
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	json.NewEncoder(w).Encode(map[string]any{"ok": ok.Load(), "failed": failed.Load(), "first_error": firstErr.Load()})
}
