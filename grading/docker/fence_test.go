package docker_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/grading/docker"
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
		if !res.Failed() || !strings.Contains(res.Failure.Error(), "Dockerfile line ") {
			t.Errorf("%q built (or failed without naming the line): %+v", df, res)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the host's loopback service was fetched %d times", n)
	}
}

// TestBuildIsFenced runs a build step that probes the grading host (a listener on all its
// addresses, the docker0 gateway, SSH), the metadata address, and through the build's proxy a
// host off the allow-list: all must fail, while an allow-listed registry answers and the
// proxy's log names it.
func TestBuildIsFenced(t *testing.T) {
	eng := dockertest.Engine(t)
	port, hits := hostListener(t)
	var targets []string
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
			targets = append(targets, ipn.IP.String()+"/"+port, ipn.IP.String()+"/22")
		}
	}
	targets = append(targets, "172.17.0.1/"+port, "169.254.169.254/80", "203.0.113.80/443", "1.1.1.1/443")
	// A listener on the network the egress proxy lives on: a build reaches the proxy on its
	// own network, and nothing else the proxy is attached to.
	targets = append(targets, peerListener(t, eng)+"/8000")
	connects := []string{"169.254.169.254:80", "example.com:443", "127.0.0.1:" + port, "localhost:" + port, "172.17.0.1:" + port}
	nonce := dockertest.Namespace()
	script := `set -u; echo probe ` + nonce + `
p=${HTTPS_PROXY:-http://127.0.0.1:9}; p=${p#http://}; ph=${p%:*}; pp=${p##*:}
for t in ` + strings.Join(targets, " ") + `; do
  if timeout 3 bash -c "echo > /dev/tcp/${t%/*}/${t#*/}" 2>/dev/null; then echo "DIRECT $t REACHED"; else echo "DIRECT $t blocked"; fi
done
for c in ` + strings.Join(connects, " ") + ` proxy.golang.org:443; do
  exec 3<>/dev/tcp/$ph/$pp || { echo "CONNECT $c no-proxy"; continue; }
  printf 'CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n' $c $c >&3
  read -t 10 -r status <&3 || status=none
  echo "CONNECT $c ${status%$(printf '\r')}"
  exec 3<&-
done`
	dir := writeDockerfile(t, "FROM holdfast/golang:local\nCOPY probe.sh /probe.sh\nRUN bash /probe.sh\n", map[string]string{"probe.sh": script})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	res, err := eng.Build(ctx, dir)
	if err != nil || res.Failed() {
		t.Fatalf("build: %v %s\n%s", err, res.Failure, res.LogTail)
	}
	t.Logf("probe build took %s\n%s", time.Since(start).Round(time.Millisecond), res.LogTail)
	for _, l := range strings.Split(res.LogTail, "\n") {
		switch {
		case strings.HasPrefix(l, "DIRECT ") && !strings.HasSuffix(l, " blocked"):
			t.Errorf("a build step reached an address directly: %s", l)
		case strings.HasPrefix(l, "CONNECT proxy.golang.org:443 "):
			if !strings.Contains(l, " 200") {
				t.Errorf("the allow-listed registry was not reached through the proxy: %s", l)
			}
		case strings.HasPrefix(l, "CONNECT ") && strings.Contains(l, " 200"):
			t.Errorf("the proxy tunnelled to a refused destination: %s", l)
		}
	}
	if !strings.Contains(res.LogTail, "DIRECT 169.254.169.254/80 blocked") || !strings.Contains(res.LogTail, "CONNECT example.com:443 HTTP/1.1 403") {
		t.Errorf("the probe did not run as expected:\n%s", res.LogTail)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the host's listener answered %d requests from the build", n)
	}
	logs, err := exec.Command("bash", "-c", `for c in $(docker ps -q --filter label=holdfast.kind=egress-proxy); do docker logs --since `+start.Add(-time.Second).UTC().Format(time.RFC3339)+` $c 2>&1; done`).CombinedOutput()
	if err != nil {
		t.Fatalf("proxy logs: %v %s", err, logs)
	}
	if !strings.Contains(string(logs), `msg=fetched method=CONNECT host=proxy.golang.org:443`) ||
		!strings.Contains(string(logs), `msg=refused method=CONNECT host=example.com:443`) {
		t.Errorf("the proxy's log does not name what the build fetched and was refused:\n%s", logs)
	}
}

// peerListener starts a listener on the egress proxy's own network and returns its address.
// It builds once first, so that the fence (made by the first fenced build) exists on a fresh
// engine too.
func peerListener(t *testing.T, eng *docker.Engine) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := eng.Build(ctx, writeDockerfile(t, "FROM holdfast/redis:7\nRUN echo "+dockertest.Namespace()+"\n", map[string]string{}))
	if err != nil || res.Failed() {
		t.Fatalf("a build to make the fence: %v %+v", err, res)
	}
	exec.Command("docker", "rmi", res.Image).Run()
	const home = "holdfast-egress"
	out, err := exec.Command("docker", "run", "-d", "--rm", "--network", home, "holdfast/python:local", "python3", "-m", "http.server", "8000").CombinedOutput()
	if err != nil {
		t.Fatalf("start the peer listener on %s: %v %s", home, err, out)
	}
	id := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", id).Run() })
	ip, err := exec.Command("docker", "inspect", "-f", `{{(index .NetworkSettings.Networks "`+home+`").IPAddress}}`, id).Output()
	if err != nil || strings.TrimSpace(string(ip)) == "" {
		t.Fatalf("inspect the peer listener: %v %q", err, ip)
	}
	return strings.TrimSpace(string(ip))
}

// buildEngine is dockertest.Engine with cfg: it skips (or fails) as that does, and reads
// HOLDFAST_RUNTIME as that does, so that an engine without gVisor (HOLDFAST_RUNTIME=runc) runs
// these tests too rather than failing in New.
func buildEngine(t *testing.T, cfg docker.Config) *docker.Engine {
	t.Helper()
	dockertest.Engine(t) // skips without Docker
	cfg.Namespace = dockertest.Namespace()
	cfg.Runtime = os.Getenv("HOLDFAST_RUNTIME")
	eng, err := docker.New(context.Background(), cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	return eng
}

// TestBuildPidsCapped: a fork bomb in a RUN step hits the build's pids cap (the classic builder
// has no option for it; the build's cgroup has it).
func TestBuildPidsCapped(t *testing.T) {
	eng := buildEngine(t, docker.Config{Build: docker.BuildConfig{Pids: 64}})
	nonce := dockertest.Namespace()
	dir := writeDockerfile(t, "FROM holdfast/redis:7\nRUN echo "+nonce+"; for i in $(seq 1 300); do sleep 30 & done; echo all-$((1+1))-started\n", map[string]string{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := eng.Build(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Failed() || strings.Contains(res.LogTail, "all-2-started") || !strings.Contains(strings.ToLower(res.LogTail), "fork") {
		t.Fatalf("300 processes in a build step capped at 64: %+v", res)
	}
}

// TestBuildTimeoutStopsTheDaemonsWork: when the build's time cap fires, the step's container
// is gone and nothing of it is committed (before, dockerd went on and committed after the
// runner's "timeout").
func TestBuildTimeoutStopsTheDaemonsWork(t *testing.T) {
	eng := buildEngine(t, docker.Config{BuildTimeout: 10 * time.Second})
	nonce := dockertest.Namespace()
	t.Cleanup(func() {
		exec.Command("bash", "-c", "docker rmi -f $(docker images -a -q --filter label=holdfast.test="+nonce+")").Run()
	})
	dir := writeDockerfile(t, "FROM holdfast/redis:7\nLABEL holdfast.test="+nonce+"\nRUN echo "+nonce+" && dd if=/dev/zero of=/big bs=1M count=100 && sleep 600\n", map[string]string{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	res, err := eng.Build(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Failed() || !strings.Contains(res.Failure.Error(), "did not finish within 10s") {
		t.Fatalf("a 600 s step under a 10 s cap: %+v", res)
	}
	returned := time.Since(start)
	// The step's container (its command carries the nonce) is gone by the time Build returns.
	out, err := exec.Command("docker", "ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Command}}").CombinedOutput()
	if err != nil {
		t.Fatalf("docker ps: %v %s", err, out)
	}
	if strings.Contains(string(out), nonce) {
		t.Errorf("the timed-out step's container is still there after Build returned (%s):\n%s", returned, out)
	}
	// Nothing committed after the LABEL step: one image carries the label, not two.
	time.Sleep(3 * time.Second)
	imgs, _ := exec.Command("docker", "images", "-a", "-q", "--filter", "label=holdfast.test="+nonce).Output()
	if n := len(strings.Fields(string(imgs))); n != 1 {
		t.Errorf("%d images carry the build's label, want 1 (the LABEL step's): the timed-out step was committed", n)
	}
	if _, err := exec.Command("docker", "image", "inspect", res.Image).CombinedOutput(); err == nil {
		t.Errorf("the timed-out build's image %s exists", res.Image)
	}
}

// TestStartersBuildFenced: the Go, TypeScript and Python starters build from scratch on the
// fenced network (go mod download, npm ci and pip go through the proxy), and the proxy's log
// names the registry npm fetched from.
func TestStartersBuildFenced(t *testing.T) {
	eng := buildEngine(t, docker.Config{Build: docker.BuildConfig{NoCache: true}})
	start := time.Now()
	for _, lang := range []string{"go", "ts", "python"} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		t0 := time.Now()
		res, err := eng.Build(ctx, "../../templates/idempotent-payments/starter/"+lang)
		cancel()
		if err != nil || res.Failed() {
			t.Fatalf("%s starter on the fenced network: %v %s\n%s", lang, err, res.Failure, res.LogTail)
		}
		t.Logf("%s starter built in %s", lang, time.Since(t0).Round(100*time.Millisecond))
		exec.Command("docker", "rmi", res.Image).Run()
	}
	logs, _ := exec.Command("bash", "-c", `for c in $(docker ps -q --filter label=holdfast.kind=egress-proxy); do docker logs --since `+start.Add(-time.Second).UTC().Format(time.RFC3339)+` $c 2>&1; done`).CombinedOutput()
	if !strings.Contains(string(logs), "msg=fetched method=CONNECT host=registry.npmjs.org:443") {
		t.Errorf("the proxy's log does not name the npm registry:\n%s", logs)
	}
}

// TestNewRefusesABadBuildConfig: a build setting that does not parse or is not one of its
// values stops New before it reaches the engine, naming the variable to fix.
// TestNewRefusesABadBuildConfig: New refuses a bad build configuration before it asks the
// engine anything. (The variables' text — HOLDFAST_BUILD_PIDS=lots — is refused earlier, by
// grading/app/config's TestBadValuesAreRefused.)
func TestNewRefusesABadBuildConfig(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct {
		bc   docker.BuildConfig
		want string
	}{
		"network":      {docker.BuildConfig{Network: "host"}, `build network "host" (HOLDFAST_BUILD_NETWORK)`},
		"pids below":   {docker.BuildConfig{Pids: -2}, "build pids cap -2 (HOLDFAST_BUILD_PIDS)"},
		"allow":        {docker.BuildConfig{Allow: []string{"pypi.org", "https://evil.example/"}}, `"https://evil.example/" (HOLDFAST_BUILD_ALLOW)`},
		"memory below": {docker.BuildConfig{MemoryBytes: -1}, "must be positive"},
	} {
		_, err := docker.New(context.Background(), docker.Config{Build: c.bc}, slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: New(%+v) = %v, want an error containing %q", name, c.bc, err, c.want)
		}
	}
}
