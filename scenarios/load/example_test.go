package load_test

import (
	"context"
	"fmt"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios/load"
)

// Find the highest rate a service on the sandbox's network holds with p99 under 200 ms and at
// most 1 % errors, and print the table and charts for a report.
func ExampleSearch() {
	res, err := load.Search(context.Background(), load.SearchConfig{
		Load: load.Config{Target: "http://172.20.0.5:3000", Duration: 2 * time.Second,
			Request: load.Request{Method: "POST", Path: "/payments", Body: []byte(`{"amount":100}`)}},
		SLO:   load.SLO{P99: 200 * time.Millisecond, ErrorBudget: 0.01},
		Start: 50,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Table())
	fmt.Println(res.Mermaid())
}
