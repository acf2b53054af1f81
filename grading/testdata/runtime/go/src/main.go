package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"example.com/payments/internal/pay"
)

func handler(w http.ResponseWriter, r *http.Request) {
	pay.Charge(map[string]int{}, r.URL.Path)
	fmt.Fprintln(w, "ok")
}

func main() {
	switch os.Args[1] {
	case "served":
		// net/http recovers a handler's panic and logs it.
		srv := httptest.NewServer(http.HandlerFunc(handler))
		http.Get(srv.URL + "/pay_1")
		time.Sleep(100 * time.Millisecond)
	case "goroutine":
		done := make(chan int)
		go func() { done <- pay.Nth([]int{1, 2}, len(os.Args)+3) }()
		<-done
	case "main":
		var p *struct{ n int }
		fmt.Println(p.n)
	case "mapwrites":
		m := map[int]int{}
		for i := 0; i < 8; i++ {
			go func() {
				for j := 0; ; j++ {
					m[j] = i
				}
			}()
		}
		time.Sleep(2 * time.Second)
	case "custom":
		panic(fmt.Errorf("charge pay_1: %w", os.ErrDeadlineExceeded))
	}
}
