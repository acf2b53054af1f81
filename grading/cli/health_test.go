package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/holdfast-ci/holdfast/grading/app/store"
	"github.com/holdfast-ci/holdfast/grading/app/store/storetest"
	"github.com/holdfast-ci/holdfast/grading/docker"
	"github.com/holdfast-ci/holdfast/grading/docker/dockertest"
)

// fakeEngine is an engine that is down, or up with some images missing.
type fakeEngine struct {
	down    error
	missing []string
}

func (e fakeEngine) Ping(context.Context) error { return e.down }
func (e fakeEngine) MissingImages(context.Context) ([]string, error) {
	if e.down != nil {
		panic("images asked of an engine that does not answer")
	}
	return e.missing, nil
}

func getHealth(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 20 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestHealthzReportsEachPart(t *testing.T) {
	t.Parallel()
	st, _ := storetest.New(t)
	// A database nobody listens on: the pool connects lazily, so only the ping fails.
	pool, err := pgxpool.New(context.Background(), "postgres://holdfast@127.0.0.1:1/holdfast?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	noDB := &store.Store{Pool: pool}
	for _, tc := range []struct {
		name string
		eng  fakeEngine
		st   *store.Store
		code int
		body []string
	}{
		{"all up", fakeEngine{}, st, 200, []string{"docker: ok", "images: ok", "database: ok"}},
		{"engine down", fakeEngine{down: errors.New("no Docker engine answers at unix:///var/run/docker.sock")}, st, 503,
			[]string{"docker: no Docker engine answers", "images: not checked", "database: ok"}},
		{"image missing", fakeEngine{missing: []string{"holdfast/agent:dev", "holdfast/redis:7"}}, st, 503,
			[]string{"docker: ok", "images: missing holdfast/agent:dev, holdfast/redis:7", "database: ok"}},
		{"database down", fakeEngine{}, noDB, 503, []string{"docker: ok", "images: ok", "database: does not answer"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(healthHandler(tc.eng, tc.st, nil))
			defer srv.Close()
			code, body := getHealth(t, srv.URL+"/healthz")
			if code != tc.code {
				t.Errorf("status %d, want %d\n%s", code, tc.code, body)
			}
			lines := strings.Split(strings.TrimSpace(body), "\n")
			if len(lines) != 3 {
				t.Errorf("want one line per part (docker, images, database), got:\n%s", body)
			}
			for _, want := range tc.body {
				if !strings.Contains(body, want) {
					t.Errorf("body lacks %q:\n%s", want, body)
				}
			}
		})
	}
	srv := httptest.NewServer(healthHandler(fakeEngine{}, st, nil))
	defer srv.Close()
	if code, body := getHealth(t, srv.URL+"/metrics"); code != 200 || !strings.Contains(body, "go_goroutines") || !strings.Contains(body, "# HELP holdfast_") {
		t.Fatalf("metrics: %d\n%.500s", code, body)
	}
}

func TestServeHealth(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.DiscardHandler)
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hi") })
	addr, stop, err := serveHealth("127.0.0.1:0", ok, log)
	if err != nil {
		t.Fatal(err)
	}
	if code, body := getHealth(t, "http://"+addr+"/"); code != 200 || body != "hi" {
		t.Fatalf("served: %d %q", code, body)
	}
	if _, _, err := serveHealth(addr, ok, log); err == nil || !strings.Contains(err.Error(), "RUNNER_HEALTH_LISTEN") {
		t.Fatalf("address in use: %v; want an error naming RUNNER_HEALTH_LISTEN", err)
	}
	stop()
	if _, err := http.Get("http://" + addr + "/"); err == nil {
		t.Fatal("still served after stop")
	}
	if addr, stop, err := serveHealth("", ok, log); err != nil || addr != "" {
		t.Fatalf("off: %q %v; want nothing served", addr, err)
	} else {
		stop()
	}
}

func TestHealthzWithDocker(t *testing.T) {
	t.Parallel()
	eng := dockertest.Engine(t)
	st, _ := storetest.New(t)
	srv := httptest.NewServer(healthHandler(eng, st, nil))
	defer srv.Close()
	code, body := getHealth(t, srv.URL+"/healthz")
	if code != 200 || body != "docker: ok\nimages: ok\ndatabase: ok\n" {
		t.Fatalf("healthz with a real engine: %d\n%s", code, body)
	}
}

// healthAddr finds where a `runner work` process serves its health endpoint, from its log.
func healthAddr(t *testing.T, p *runnerProcess) string {
	t.Helper()
	var addr string
	waitUntil(t, 30*time.Second, "the runner's health endpoint", func() bool {
		f, err := os.Open(p.log.Name())
		if err != nil {
			return false
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var line struct{ Msg, Listen string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "runner health endpoint" {
				addr = line.Listen
				return true
			}
		}
		return false
	})
	return addr
}

func TestHealthcheckCommand(t *testing.T) {
	t.Parallel()
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		io.WriteString(w, "docker: ok\n")
	}))
	defer srv.Close()
	_, port, _ := strings.Cut(srv.Listener.Addr().String(), ":")
	for _, tc := range []struct {
		listen string
		status int
		code   int
	}{
		{srv.Listener.Addr().String(), 200, exitPass},
		{":" + port, 200, exitPass}, // every address: asked on loopback
		{"0.0.0.0:" + port, 503, exitFail},
		{"127.0.0.1:1", 200, exitFail}, // nothing listens
		{"off", 200, exitUsage},
		{"9090", 200, exitUsage},
	} {
		status = tc.status
		var stdout, stderr strings.Builder
		env := func(k string) string {
			if k == "RUNNER_HEALTH_LISTEN" {
				return tc.listen
			}
			return ""
		}
		if code := run(context.Background(), nil, []string{"healthcheck"}, env, &stdout, &stderr); code != tc.code {
			t.Errorf("RUNNER_HEALTH_LISTEN=%s answering %d: exit %d, want %d (%s)", tc.listen, tc.status, code, tc.code, stderr.String())
		}
	}
}

// TestReadyzBelowDiskFloor: /readyz says why the runner takes no job when its engine's disk is
// below the floor (a real Keeper, its floor set above the free space), and "ready" otherwise;
// /metrics shows the pause.
func TestReadyzBelowDiskFloor(t *testing.T) {
	eng := dockertest.Engine(t)
	log := slog.New(slog.DiscardHandler)
	low := dockertest.Keeper(t, eng, docker.ImagePolicy{FloorPercent: 99.99})
	srv := httptest.NewServer(healthHandler(fakeEngine{}, nil, low.Ready))
	defer srv.Close()
	if err := low.Room(context.Background()); err == nil {
		t.Fatal("Room with a 99.99% floor: nil; want the disk below it")
	}
	if code, body := getHealth(t, srv.URL+"/readyz"); code != 503 || !strings.Contains(body, "not ready: the Docker engine's disk is below its free-space floor") {
		t.Fatalf("readyz below the floor: %d %q", code, body)
	}
	if code, body := getHealth(t, srv.URL+"/metrics"); code != 200 || !strings.Contains(body, `holdfast_runner_paused{reason="disk"} 1`) {
		t.Fatalf("metrics below the floor: %d\n%.2000s", code, body)
	}
	ok, err := docker.NewKeeper(context.Background(), eng, docker.ImagePolicy{FloorBytes: 1 << 20, Repo: "test/" + eng.Namespace()}, log)
	if err != nil {
		t.Fatal(err)
	}
	srv2 := httptest.NewServer(healthHandler(fakeEngine{}, nil, ok.Ready))
	defer srv2.Close()
	if code, body := getHealth(t, srv2.URL+"/readyz"); code != 200 || strings.TrimSpace(body) != "ready" {
		t.Fatalf("readyz above the floor: %d %q", code, body)
	}
	if err := ok.Room(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, body := getHealth(t, srv2.URL+"/metrics"); !strings.Contains(body, `holdfast_runner_paused{reason="disk"} 0`) {
		t.Fatalf("metrics once above the floor: %.2000s", body)
	}
}
