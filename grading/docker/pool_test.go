package docker_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/docker"
	"github.com/holdfast-ci/holdfast/grading/docker/dockertest"
	"github.com/holdfast-ci/holdfast/scenarios"
)

func testLog() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// newPool starts a pool on eng that the test closes when it ends, checking the close.
func newPool(t *testing.T, eng *docker.Engine, opts docker.PoolOptions) *docker.Pool {
	t.Helper()
	p := docker.NewPool(context.Background(), eng, opts, testLog())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := p.Close(ctx); err != nil {
			t.Errorf("close pool: %v", err)
		}
	})
	return p
}

// waitReady waits until p holds n sandboxes.
func waitReady(t *testing.T, p *docker.Pool, n int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for p.Stats().Ready < n {
		if time.Now().After(deadline) {
			t.Fatalf("the pool holds %+v after 2 minutes; want %d ready", p.Stats(), n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// inNamespace lists the ids of the containers (or, with "network", networks) in eng's namespace.
func inNamespace(t *testing.T, eng *docker.Engine, kind string) []string {
	t.Helper()
	args := []string{"ps", "-a", "-q", "--no-trunc"}
	if kind == "network" {
		args = []string{"network", "ls", "-q", "--no-trunc"}
	}
	out := dockerCLI(t, append(args, "--filter", "label="+docker.LabelNamespace+"="+eng.Namespace())...)
	ids := strings.Fields(out)
	slices.Sort(ids)
	return ids
}

func buildHostile(t *testing.T, eng *docker.Engine) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	b, err := eng.Build(ctx, "testdata/hostile")
	if err != nil || b.Failed() {
		t.Fatalf("build: %v %s\n%s", err, b.Failure, b.LogTail)
	}
	return b.Image
}

func teardown(t *testing.T, sb grading.Sandbox) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := sb.Teardown(ctx); err != nil {
		t.Errorf("teardown: %v", err)
	}
}

// TestPoolHitCreatesOnlyTheApp takes a waiting sandbox and checks that the grading's Provision
// created exactly one container, the app, and no network, and that the sandbox works: the app
// starts and answers, Postgres and Redis answer the harness.
func TestPoolHitCreatesOnlyTheApp(t *testing.T) {
	eng := dockertest.Engine(t)
	image := buildHostile(t, eng)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	p := newPool(t, eng, docker.PoolOptions{Size: 1, MinFreeMB: -1})
	waitReady(t, p, 1)
	containers, networks := inNamespace(t, eng, "container"), inNamespace(t, eng, "network")
	if len(containers) != 3 || len(networks) != 2 {
		t.Fatalf("a waiting sandbox has %d containers and %d networks; want postgres, redis and agent on 2 networks", len(containers), len(networks))
	}
	// The pool refills as soon as the sandbox is taken: compare the taken run's own resources.
	run := dockerCLI(t, "inspect", "-f", `{{index .Config.Labels "`+docker.LabelRun+`"}}`, containers[0])

	sb, err := p.Provision(ctx, image, grading.Limits{})
	if sb != nil {
		defer teardown(t, sb)
	}
	if err != nil {
		t.Fatal(err)
	}
	f := "label=" + docker.LabelRun + "=" + run
	var created []string
	for _, id := range strings.Fields(dockerCLI(t, "ps", "-a", "-q", "--no-trunc", "--filter", f)) {
		if !slices.Contains(containers, id) {
			created = append(created, id)
		}
	}
	if len(created) != 1 {
		t.Fatalf("a pool hit created %d containers (%v) in run %s; want only the app's", len(created), created, run)
	}
	if role := dockerCLI(t, "inspect", "-f", `{{index .Config.Labels "`+docker.LabelRole+`"}}`, created[0]); role != string(scenarios.App) {
		t.Fatalf("the container a pool hit created has role %q; want %q", role, scenarios.App)
	}
	after := strings.Fields(dockerCLI(t, "network", "ls", "-q", "--no-trunc", "--filter", f))
	slices.Sort(after)
	if !slices.Equal(after, networks) {
		t.Fatalf("run %s's networks before the hit %v, after %v; want the pooled sandbox's own", run, networks, after)
	}
	if st := p.Stats(); st.Hits != 1 || st.Misses != 0 {
		t.Fatalf("pool stats %+v; want 1 hit, 0 misses", st)
	}
	if ph := docker.Phases(sb); len(ph) != 2 {
		t.Fatalf("a pool hit's phases are %+v; want the take and the app's creation", ph)
	}
	if err := sb.Start(ctx, scenarios.App); err != nil {
		t.Fatalf("start the app in a pooled sandbox: %v", err)
	}
	h, err := grading.NewHarness(sb)
	if err != nil {
		t.Fatal(err)
	}
	if r := h.Do(ctx, scenarios.Request{Path: "/healthz"}); r.Err != nil || r.Status != 200 {
		t.Fatalf("GET /healthz in a pooled sandbox: %d %v", r.Status, r.Err)
	}
	tables, keys := contents(t, ctx, sb.Endpoints())
	if tables != 0 || keys != 0 {
		t.Fatalf("a fresh pooled sandbox holds %d tables and %d keys; want none", tables, keys)
	}
}

// contents counts the tables in the sandbox's app database and the keys in its Redis.
func contents(t *testing.T, ctx context.Context, ep grading.Endpoints) (tables, keys int64) {
	t.Helper()
	conn, err := pgx.Connect(ctx, ep.Postgres)
	if err != nil {
		t.Fatalf("connect to the sandbox's Postgres: %v", err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')").Scan(&tables); err != nil {
		t.Fatal(err)
	}
	opts, err := redis.ParseURL(ep.Redis)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	keys, err = rdb.DBSize(ctx).Result()
	if err != nil {
		t.Fatalf("DBSIZE in the sandbox's Redis: %v", err)
	}
	return tables, keys
}

// TestPoolGradingsShareNothing writes into one pooled sandbox's Postgres and Redis, and checks
// that the next grading's sandbox sees an empty database, other secrets and other containers,
// and that the pool refills in the background.
func TestPoolGradingsShareNothing(t *testing.T) {
	eng := dockertest.Engine(t)
	image := buildHostile(t, eng)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	p := newPool(t, eng, docker.PoolOptions{Size: 2, MinFreeMB: -1})
	waitReady(t, p, 2)

	first, err := p.Provision(ctx, image, grading.Limits{})
	if first != nil {
		defer teardown(t, first)
	}
	if err != nil {
		t.Fatal(err)
	}
	h1 := first.Endpoints()
	conn, err := pgx.Connect(ctx, h1.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE payments (key text PRIMARY KEY); INSERT INTO payments VALUES ('k1')"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	opts, _ := redis.ParseURL(h1.Redis)
	rdb := redis.NewClient(opts)
	if err := rdb.Set(ctx, "seen", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	rdb.Close()
	if tables, keys := contents(t, ctx, h1); tables != 1 || keys != 1 {
		t.Fatalf("after writing, the first sandbox holds %d tables and %d keys; want 1 and 1", tables, keys)
	}

	second, err := p.Provision(ctx, image, grading.Limits{})
	if second != nil {
		defer teardown(t, second)
	}
	if err != nil {
		t.Fatal(err)
	}
	h2 := second.Endpoints()
	if tables, keys := contents(t, ctx, h2); tables != 0 || keys != 0 {
		t.Fatalf("the second grading's sandbox holds %d tables and %d keys; want an empty database and Redis", tables, keys)
	}
	if h1.Postgres == h2.Postgres || h1.Redis == h2.Redis || h1.AgentToken == h2.AgentToken {
		t.Fatalf("two gradings share an address or a secret: %+v and %+v", h1, h2)
	}
	if st := p.Stats(); st.Hits != 2 {
		t.Fatalf("pool stats %+v; want 2 hits", st)
	}
	waitReady(t, p, 2) // refilled in the background
}

// TestPoolTeardownRunsInTheBackground: a grading's Teardown of a sandbox the pool handed it
// returns while the removal runs on (the verdict is not kept waiting for it), and Close waits
// until it is done.
func TestPoolTeardownRunsInTheBackground(t *testing.T) {
	eng := dockertest.Engine(t)
	image := buildHostile(t, eng)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	p := docker.NewPool(ctx, eng, docker.PoolOptions{Size: 1, MinFreeMB: -1}, testLog())
	waitReady(t, p, 1)
	sb, err := p.Provision(ctx, image, grading.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Teardown(ctx); err != nil {
		t.Fatalf("teardown: %v", err)
	}
	if st := p.Stats(); st.TearingDown != 1 {
		t.Fatalf("pool stats %+v right after the grading's Teardown returned; want its sandbox still being removed (1)", st)
	}
	if err := sb.Teardown(ctx); err != nil {
		t.Fatalf("a second teardown: %v", err)
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.TearingDown != 0 {
		t.Fatalf("pool stats %+v after Close; want no removal under way", st)
	}
	if c, n := inNamespace(t, eng, "container"), inNamespace(t, eng, "network"); len(c)+len(n) != 0 {
		t.Fatalf("after Close: containers %v, networks %v; want none", c, n)
	}
}

// TestPoolCloseTearsDown closes a full pool, and one still provisioning, and checks that
// nothing of either is left on the engine.
func TestPoolCloseTearsDown(t *testing.T) {
	eng := dockertest.Engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	full := docker.NewPool(ctx, eng, docker.PoolOptions{Size: 2, MinFreeMB: -1}, testLog())
	waitReady(t, full, 2)
	if n := len(inNamespace(t, eng, "container")); n != 6 {
		t.Fatalf("a full pool of 2 has %d containers; want 6", n)
	}
	if err := full.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if c, n := inNamespace(t, eng, "container"), inNamespace(t, eng, "network"); len(c)+len(n) != 0 {
		t.Fatalf("after Close: containers %v, networks %v; want none", c, n)
	}

	filling := docker.NewPool(ctx, eng, docker.PoolOptions{Size: 1, MinFreeMB: -1}, testLog())
	deadline := time.Now().Add(time.Minute)
	for len(inNamespace(t, eng, "network")) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := filling.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if c, n := inNamespace(t, eng, "container"), inNamespace(t, eng, "network"); len(c)+len(n) != 0 {
		t.Fatalf("after closing a pool mid-provision: containers %v, networks %v; want none", c, n)
	}
}

// TestPoolShortOfMemoryProvisionsNothingAhead asks for more free memory than any machine has:
// the pool stays empty, and a grading provisions its sandbox there and then.
func TestPoolShortOfMemoryProvisionsNothingAhead(t *testing.T) {
	eng := dockertest.Engine(t)
	image := buildHostile(t, eng)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	p := newPool(t, eng, docker.PoolOptions{Size: 1, MinFreeMB: 1 << 40})
	time.Sleep(5 * time.Second) // several provisions' time
	if st := p.Stats(); st.Ready != 0 {
		t.Fatalf("with memory short the pool holds %+v; want none ready", st)
	}
	if c := inNamespace(t, eng, "container"); len(c) != 0 {
		t.Fatalf("with memory short the pool created containers %v", c)
	}
	sb, err := p.Provision(ctx, image, grading.Limits{})
	if sb != nil {
		defer teardown(t, sb)
	}
	if err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Misses != 1 || st.Hits != 0 {
		t.Fatalf("pool stats %+v; want 1 miss", st)
	}
	if n := len(inNamespace(t, eng, "container")); n != 4 {
		t.Fatalf("a pool miss left %d containers; want a whole sandbox of 4", n)
	}
}

const poolHelperEnv = "HOLDFAST_POOL_HELPER_NAMESPACE"

// TestPoolHelperProcess is the runner that TestPoolOfAKilledRunnerIsSwept kills: it fills a
// pool whose sandboxes may wait 10 s, says so, and waits to be killed.
func TestPoolHelperProcess(t *testing.T) {
	ns := os.Getenv(poolHelperEnv)
	if ns == "" {
		t.Skip("the helper process of TestPoolOfAKilledRunnerIsSwept")
	}
	ctx := context.Background()
	eng, err := docker.New(ctx, docker.Config{Namespace: ns, Runtime: os.Getenv("HOLDFAST_RUNTIME"), AgentImage: os.Getenv("HOLDFAST_AGENT_IMAGE")}, testLog())
	if err != nil {
		t.Fatal(err)
	}
	p := docker.NewPool(ctx, eng, docker.PoolOptions{Size: 1, MaxIdle: 10 * time.Second, MinFreeMB: -1}, testLog())
	for p.Stats().Ready < 1 {
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Println("pool ready")
	time.Sleep(10 * time.Minute)
}

// TestPoolOfAKilledRunnerIsSwept SIGKILLs a process holding a pool and checks that the janitor
// removes its sandbox once the pool's idle time and the janitor's max age have passed, while a
// live pool's waiting sandbox, as old, survives the same sweep and is still handed out.
func TestPoolOfAKilledRunnerIsSwept(t *testing.T) {
	eng := dockertest.Engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	live := newPool(t, eng, docker.PoolOptions{Size: 1, MaxIdle: time.Hour, MinFreeMB: -1})
	waitReady(t, live, 1)
	liveContainers := inNamespace(t, eng, "container")

	cmd := exec.Command(os.Args[0], "-test.run=^TestPoolHelperProcess$", "-test.v")
	cmd.Env = append(os.Environ(), poolHelperEnv+"="+eng.Namespace())
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	ready := make(chan bool, 1)
	go func() {
		lines := bufio.NewScanner(out)
		for lines.Scan() {
			if lines.Text() == "pool ready" {
				ready <- true
				return
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("the helper process ended before its pool was ready")
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("the helper process's pool was not ready within 2 minutes")
	}
	if err := syscall.Kill(cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	var orphans []string
	for _, id := range inNamespace(t, eng, "container") {
		if !slices.Contains(liveContainers, id) {
			orphans = append(orphans, id)
		}
	}
	if len(orphans) != 3 {
		t.Fatalf("the killed runner left %d containers of its pool; want its waiting sandbox's 3", len(orphans))
	}

	time.Sleep(12 * time.Second) // past the killed pool's 10 s of idle time and the 1 s max age below
	runs, err := eng.Janitor(ctx, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 {
		t.Fatalf("the janitor removed runs %v; want the killed runner's pooled sandbox only", runs)
	}
	left := inNamespace(t, eng, "container")
	if !slices.Equal(left, liveContainers) {
		t.Fatalf("after the sweep the namespace holds containers %v; want the live pool's %v only", left, liveContainers)
	}
	sb, err := live.Provision(ctx, buildHostile(t, eng), grading.Limits{})
	if sb != nil {
		defer teardown(t, sb)
	}
	if err != nil {
		t.Fatal(err)
	}
	if st := live.Stats(); st.Hits != 1 {
		t.Fatalf("the live pool's stats after the sweep %+v; want its waiting sandbox handed out (1 hit)", st)
	}
}
