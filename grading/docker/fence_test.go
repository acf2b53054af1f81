package docker_test

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/grading/docker/dockertest"
)

func writeDockerfile(t *testing.T, body string, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	files["Dockerfile"] = body
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// hostListener serves on every address of the grading host and counts the requests it gets: a
// build that reaches it has reached the host.
func hostListener(t *testing.T) (port string, hits *atomic.Int64) {
	t.Helper()
	hits = new(atomic.Int64)
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write([]byte("host secret\n"))
	}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	_, port, _ = net.SplitHostPort(ln.Addr().String())
	return port, hits
}

// TestBuildRefusesRemoteSources: the daemon fetches an ADD URL itself, on the host's network
// (it read a loopback-only service into the image); such Dockerfiles are refused before the
// build, naming the line.
func TestBuildRefusesRemoteSources(t *testing.T) {
	eng := dockertest.Engine(t)
	port, hits := hostListener(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, df := range []string{
		"FROM holdfast/redis:7\nADD http://127.0.0.1:" + port + "/secret /secret\n",
		"FROM holdfast/redis:7\nCOPY --from=127.0.0.1:" + port + "/img / /\n",
		"FROM 127.0.0.1:" + port + "/img\n",
	} {
		res, err := eng.Build(ctx, writeDockerfile(t, df, map[string]string{}))
		if err != nil {
			t.Fatalf("%q: %v", df, err)
		}
		if !res.Failed || !strings.Contains(res.Reason, "Dockerfile line ") {
			t.Errorf("%q built (or failed without naming the line): %+v", df, res)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the host's loopback service was fetched %d times", n)
	}
}
