package health_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/grading/health"
)

func TestLocalURL(t *testing.T) {
	t.Parallel()
	for listen, want := range map[string]string{
		":8080":         "http://127.0.0.1:8080/readyz",
		"0.0.0.0:8080":  "http://127.0.0.1:8080/readyz",
		"[::]:8080":     "http://127.0.0.1:8080/readyz",
		"10.1.2.3:8080": "http://10.1.2.3:8080/readyz",
		"9090":          "",
	} {
		got, err := health.LocalURL(listen, "/readyz")
		if got != want || (want == "") != (err != nil) {
			t.Errorf("LocalURL(%q) = %q, %v; want %q", listen, got, err, want)
		}
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	status := make(chan int, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(<-status)
		io.WriteString(w, "database: ok\n")
	}))
	defer srv.Close()
	for _, tc := range []struct {
		status int
		fails  bool
	}{{200, false}, {503, true}} {
		status <- tc.status
		var out strings.Builder
		err := health.Check(context.Background(), srv.URL+"/healthz", 5*time.Second, &out)
		if (err != nil) != tc.fails || out.String() != "database: ok\n" {
			t.Errorf("answering %d: %v, body %q; want failed=%v and the body copied", tc.status, err, out.String(), tc.fails)
		}
		if tc.fails && (err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "database: ok")) {
			t.Errorf("answering %d: error %v; want the status and the body", tc.status, err)
		}
	}
	if err := health.Check(context.Background(), "http://127.0.0.1:1/healthz", 5*time.Second, io.Discard); err == nil {
		t.Error("nothing listening: no error")
	} else if !strings.Contains(err.Error(), "127.0.0.1:1") || !strings.Contains(err.Error(), "is the process running") {
		t.Errorf("nothing listening: error %q; want the address asked and what to check", err)
	}
}
