// Command bench measures how fast Holdfast gets a sandbox ready, next to docker-compose bringing
// up the same two sidecars, and how long a whole grading of the reference submission takes.
//
//	go run ./grading/docker/bench [-runs N] [-skip-cold]   # from the repository root
//
// It prints one markdown table on stdout (progress goes to stderr). Reading it:
//
//   - "pool hit" is Pool.Provision with a sandbox waiting (docker.Pool, as `runner work` runs
//     it): an Intact check of the waiting sandbox, then the app container created from the
//     reference submission's image (built first; a cache hit after the first time).
//   - "pool miss" is Pool.Provision with none waiting, which is Engine.Provision: two internal
//     networks, postgres, redis and the agent started and answering (pgx login, PING,
//     /healthz), the app container created. Its steps (docker.Phases) are printed after the
//     table: where each millisecond of the cold path goes.
//   - The pool refills in the background after a hit; each measurement starts only once it
//     holds a sandbox again, so no refill runs beside what is measured.
//   - "docker-compose: sidecars ready" runs `docker-compose up -d` of deploy/bench/compose.yaml
//     (the same postgres and redis, same commands and limits, one internal network) and polls
//     every 50 ms, as the engine does, until postgres accepts a pgx login and redis answers PING
//     at the containers' addresses. docker-compose 1.29 has no --wait; this is its emulation.
//     The Holdfast row does strictly more work (the agent, a second network, the app container),
//     so it being faster or equal is the claim, not a like-for-like race.
//   - The teardown rows time Sandbox.Teardown and `docker-compose down -v` on their own.
//   - "grade, warm" is Grader.Grade of the reference against idempotent-payments with its image
//     cached; "grade, cold" first removes every holdfast-submission:* image and the dangling
//     build-stage images that descend from the toolchain image (the classic builder's cache), so
//     the build downloads modules and compiles. Notes split the time by Verdict.Timings.
//
// Runs are sequential and alternate Holdfast and compose, after one unrecorded warm-up of each,
// so that drift in the machine's load hits both columns alike. HOLDFAST_POSTGRES_IMAGE,
// HOLDFAST_REDIS_IMAGE, HOLDFAST_AGENT_IMAGE and HOLDFAST_GO_IMAGE are honoured as by the runner.
// Everything started is removed on exit, also on Ctrl-C.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/moby/moby/client"
	"github.com/redis/go-redis/v9"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/docker"
	"github.com/holdfast-ci/holdfast/scenarios/catalog"
)

const (
	composeFile  = "deploy/bench/compose.yaml"
	referenceDir = "scenarios/idempotentpayments/testdata/reference"
	cleanupLimit = 60 * time.Second
)

func main() {
	runs := flag.Int("runs", 5, "sandbox and compose runs (min/median/max over these)")
	skipCold := flag.Bool("skip-cold", false, "skip the cold grade (it removes holdfast-submission images)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, max(*runs, 1), *skipCold)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, runs int, skipCold bool) error {
	for _, p := range []string{composeFile, referenceDir} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("run from the repository root: %w", err)
		}
	}
	if _, err := exec.LookPath("docker-compose"); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg := docker.Config{PostgresImage: os.Getenv("HOLDFAST_POSTGRES_IMAGE"), RedisImage: os.Getenv("HOLDFAST_REDIS_IMAGE"),
		AgentImage: os.Getenv("HOLDFAST_AGENT_IMAGE")}
	if img := os.Getenv("HOLDFAST_GO_IMAGE"); img != "" {
		cfg.BuildArgs = map[string]string{"GO_IMAGE": img}
	}
	eng, err := docker.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer eng.Close()
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return err
	}
	defer cli.Close()
	if _, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		return err
	}

	progress("building the reference image (cached after the first time)")
	build, err := eng.Build(ctx, referenceDir)
	if err != nil || build.Failed() {
		return fmt.Errorf("build reference: %v %s", err, build.Failure)
	}

	// One sandbox waits in the pool; every measurement starts once it is there, so that its
	// refill never runs beside the thing measured.
	pool := docker.NewPool(ctx, eng, docker.PoolOptions{Size: 1}, log)
	defer func() {
		if err := cleanup(ctx, pool.Close); err != nil {
			progress("warning: close the pool: %v", err)
		}
	}()
	empty := docker.NewPool(ctx, eng, docker.PoolOptions{Size: 0}, log) // every Provision a miss
	defer empty.Close(context.WithoutCancel(ctx))

	var hit, miss, teardown, up, upCmd, down []time.Duration
	hitPhases, missPhases := phaseLog{}, phaseLog{}
	for i := 0; i <= runs; i++ { // i == 0 is the warm-up
		if err := waitPool(ctx, pool); err != nil {
			return err
		}
		h, _, hp, err := provision(ctx, pool, build.Image)
		if err != nil {
			return fmt.Errorf("pool hit, run %d: %w", i, err)
		}
		if err := waitPool(ctx, pool); err != nil {
			return err
		}
		m, t, mp, err := provision(ctx, empty, build.Image)
		if err != nil {
			return fmt.Errorf("pool miss, run %d: %w", i, err)
		}
		if err := waitPool(ctx, pool); err != nil {
			return err
		}
		u, uc, d, err := composeRun(ctx, cli, fmt.Sprintf("hfbench-%d-%d", os.Getpid(), i))
		if err != nil {
			return fmt.Errorf("compose run %d: %w", i, err)
		}
		progress("run %d/%d: holdfast pool hit %s, miss %s, teardown %s; compose ready %s, down %s", i, runs, secs(h), secs(m), secs(t), secs(u), secs(d))
		if i > 0 {
			hit, miss, teardown, up, upCmd, down = append(hit, h), append(miss, m), append(teardown, t), append(up, u), append(upCmd, uc), append(down, d)
			hitPhases.add(hp)
			missPhases.add(mp)
		}
	}
	if st := pool.Stats(); st.Misses != 0 || st.Hits != runs+1 {
		return fmt.Errorf("the pool served %d hits and %d misses; want %d hits", st.Hits, st.Misses, runs+1)
	}

	cat, err := catalog.New(catalog.Builtin())
	if err != nil {
		return err
	}
	ch, err := cat.Lookup("idempotent-payments")
	if err != nil {
		return err
	}
	g := &grading.Grader{Engine: eng, Log: log}
	pooled := &grading.Grader{Engine: pool, Log: log}
	var warm, warmPool, cold []string
	var warmT, warmPoolT, coldT []time.Duration
	for i := range 2 {
		progress("grade, warm %d/2", i+1)
		if warm, warmT, err = grade(ctx, g, ch, warm, warmT); err != nil {
			return err
		}
		if err := waitPool(ctx, pool); err != nil {
			return err
		}
		progress("grade, warm, pool hit %d/2", i+1)
		if warmPool, warmPoolT, err = grade(ctx, pooled, ch, warmPool, warmPoolT); err != nil {
			return err
		}
	}
	if !skipCold {
		progress("removing holdfast-submission images and their build cache")
		if err := dropBuildCache(ctx, cli, cfg.Defaults().BuildArgs["GO_IMAGE"]); err != nil {
			return err
		}
		progress("grade, cold")
		if cold, coldT, err = grade(ctx, g, ch, cold, coldT); err != nil {
			return err
		}
	}

	c := cfg.Defaults()
	fmt.Printf("\nSidecars: %s, %s; agent %s; %d runs after one warm-up.\n\n", c.PostgresImage, c.RedisImage, c.AgentImage, runs)
	fmt.Println("| Measurement | Runs | Min | Median | Max | Notes |")
	fmt.Println("|---|---|---|---|---|---|")
	row("Holdfast: sandbox ready, pool hit (`Pool.Provision`)", hit, fmt.Sprintf("an intact check of a waiting sandbox + the app container created; %.2f× compose's median", ratio(hit, up)))
	row("Holdfast: sandbox ready, pool miss (= `Engine.Provision`)", miss, fmt.Sprintf("2 internal networks; postgres + redis + agent started and answering; app container created; %.2f× compose's median", ratio(miss, up)))
	row("docker-compose: sidecars ready (`up -d` + probes)", up, "postgres + redis only, 1 internal network: strictly less work than a miss")
	row("… of which `docker-compose up -d` until it exits", upCmd, "network and containers created and started; the gap to the row above is the probes after it returns")
	row("Holdfast: teardown (`Sandbox.Teardown`)", teardown, "4 containers, 2 networks")
	row("docker-compose: `down -v`", down, "2 containers, 1 network")
	row("Full grade, warm (image cached)", warmT, strings.Join(warm, "; "))
	row("Full grade, warm, pool hit", warmPoolT, strings.Join(warmPool, "; "))
	if !skipCold {
		row("Full grade, cold (no image, no build cache)", coldT, strings.Join(cold, "; "))
	}
	fmt.Println()
	missPhases.print("Where a pool miss's time goes (median of each step over the runs; steps on one line ran side by side)")
	hitPhases.print("Where a pool hit's time goes")
	return nil
}

// provision times eng.Provision and, separately, the teardown that always follows it.
func provision(ctx context.Context, eng grading.Engine, image string) (ready, teardown time.Duration, phases []docker.Phase, err error) {
	t := time.Now()
	sb, err := eng.Provision(ctx, image, grading.Limits{})
	ready = time.Since(t)
	if sb != nil {
		phases = docker.Phases(sb)
		t = time.Now()
		err = errors.Join(err, cleanup(ctx, sb.Teardown))
		teardown = time.Since(t)
	}
	return ready, teardown, phases, err
}

// waitPool waits (at most a minute) until the pool holds a sandbox.
func waitPool(ctx context.Context, p *docker.Pool) error {
	deadline := time.Now().Add(time.Minute)
	for p.Stats().Ready == 0 {
		if time.Now().After(deadline) {
			return errors.New("the pool did not fill within a minute")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// phaseLog gathers the steps of several provisions, by name, in the order they first ended.
type phaseLog struct {
	names       []string
	start, took map[string][]time.Duration
}

func (l *phaseLog) add(phases []docker.Phase) {
	if l.start == nil {
		l.start, l.took = map[string][]time.Duration{}, map[string][]time.Duration{}
	}
	for _, p := range phases {
		if _, ok := l.took[p.Name]; !ok {
			l.names = append(l.names, p.Name)
		}
		l.start[p.Name] = append(l.start[p.Name], p.Start)
		l.took[p.Name] = append(l.took[p.Name], p.Took)
	}
}

func (l *phaseLog) print(title string) {
	fmt.Printf("%s:\n\n| step | starts at | takes (median) | min | max |\n|---|---|---|---|---|\n", title)
	for _, n := range l.names {
		took := slices.Sorted(slices.Values(l.took[n]))
		fmt.Printf("| %s | %s | %s | %s | %s |\n", n, ms(median(l.start[n])), ms(median(took)), ms(took[0]), ms(took[len(took)-1]))
	}
	fmt.Println()
}

func median(d []time.Duration) time.Duration {
	s := slices.Sorted(slices.Values(d))
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}

func ratio(a, b []time.Duration) float64 { return median(a).Seconds() / median(b).Seconds() }

func ms(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }

// cleanup runs remove with a deadline of its own. After an interrupt it runs it again a second
// later: a create request the client gave up on may still complete in the daemon after the first
// removal listed what to remove.
func cleanup(ctx context.Context, remove func(context.Context) error) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupLimit)
	defer cancel()
	err := remove(rctx)
	if ctx.Err() != nil {
		time.Sleep(time.Second)
		err = remove(rctx)
	}
	return err
}

// composeRun times `docker-compose up -d` until both sidecars answer (and until the command
// exits), then `down -v`; down runs whatever happened, with its own deadline.
func composeRun(ctx context.Context, cli *client.Client, project string) (ready, upCmd, down time.Duration, err error) {
	downed := false
	defer func() {
		if !downed {
			err = errors.Join(err, cleanup(ctx, func(ctx context.Context) error { return compose(ctx, project, "down", "-v") }))
		}
	}()
	t := time.Now()
	if err := compose(ctx, project, "up", "-d"); err != nil {
		return 0, 0, 0, err
	}
	upCmd = time.Since(t)
	list, err := cli.ContainerList(ctx, client.ContainerListOptions{Filters: make(client.Filters).Add("label", "com.docker.compose.project="+project)})
	if err != nil {
		return 0, 0, 0, err
	}
	ips := map[string]string{}
	for _, c := range list.Items {
		if ns := c.NetworkSettings; ns != nil {
			for _, ep := range ns.Networks {
				if ep != nil && ep.IPAddress.IsValid() {
					ips[c.Labels["com.docker.compose.service"]] = ep.IPAddress.String()
				}
			}
		}
	}
	if ips["postgres"] == "" || ips["redis"] == "" {
		return 0, 0, 0, fmt.Errorf("no addresses for the compose containers: %v", ips)
	}
	pgURL := fmt.Sprintf("postgres://holdfast:bench@%s:5432/app?sslmode=disable&connect_timeout=2", ips["postgres"])
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Go(func() {
		errs[0] = poll(ctx, "postgres", func(ctx context.Context) error {
			conn, err := pgx.Connect(ctx, pgURL)
			if err != nil {
				return err
			}
			defer conn.Close(ctx)
			return conn.Ping(ctx)
		})
	})
	wg.Go(func() {
		errs[1] = poll(ctx, "redis", func(ctx context.Context) error {
			rdb := redis.NewClient(&redis.Options{Addr: ips["redis"] + ":6379", DialTimeout: time.Second, MaxRetries: -1})
			defer rdb.Close()
			return rdb.Ping(ctx).Err()
		})
	})
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, 0, 0, err
	}
	ready = time.Since(t)
	t = time.Now()
	if err := compose(context.WithoutCancel(ctx), project, "down", "-v"); err != nil {
		return ready, upCmd, 0, err
	}
	downed = true
	return ready, upCmd, time.Since(t), nil
}

func compose(ctx context.Context, project string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, cleanupLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker-compose", append([]string{"-p", project, "-f", composeFile}, args...)...)
	// Its own process group: Ctrl-C reaches only the bench, which then runs `down` undisturbed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("docker-compose %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// poll runs probe every 50 ms (each try bounded to 2 s) until it succeeds, for at most 30 s: the
// engine's readiness loop.
func poll(ctx context.Context, what string, probe func(context.Context) error) error {
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		pctx, pcancel := context.WithTimeout(wctx, 2*time.Second)
		err := probe(pctx)
		pcancel()
		if err == nil {
			return nil
		}
		select {
		case <-wctx.Done():
			return fmt.Errorf("%s not ready: %w", what, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// dropBuildCache removes every holdfast-submission:* tag and the dangling images built on
// goImage (the build stages the classic builder reuses as its cache), so the next learner build
// starts from the toolchain image. Images that a container still uses are left, with a warning.
func dropBuildCache(ctx context.Context, cli *client.Client, goImage string) error {
	tool, err := cli.ImageInspect(ctx, goImage)
	if err != nil {
		return err
	}
	tagged, err := cli.ImageList(ctx, client.ImageListOptions{Filters: make(client.Filters).Add("reference", "holdfast-submission")})
	if err != nil {
		return err
	}
	var remove []string
	for _, im := range tagged.Items {
		remove = append(remove, im.RepoTags...)
	}
	all, err := cli.ImageList(ctx, client.ImageListOptions{All: true})
	if err != nil {
		return err
	}
	parent := map[string]string{}
	for _, im := range all.Items {
		parent[im.ID] = im.ParentID
	}
	heads, err := cli.ImageList(ctx, client.ImageListOptions{Filters: make(client.Filters).Add("dangling", "true")})
	if err != nil {
		return err
	}
	for _, im := range heads.Items {
		for id, n := parent[im.ID], 0; id != "" && n < 1000; id, n = parent[id], n+1 {
			if id == tool.ID {
				remove = append(remove, im.ID)
				break
			}
		}
	}
	for _, ref := range remove {
		if _, err := cli.ImageRemove(ctx, ref, client.ImageRemoveOptions{PruneChildren: true}); err != nil {
			progress("warning: keep %s: %v", ref, err)
		}
	}
	progress("removed %d images", len(remove))
	return nil
}

func row(name string, d []time.Duration, note string) {
	s := slices.Sorted(slices.Values(d))
	fmt.Printf("| %s | %d | %s | %s | %s | %s |\n", name, len(s), secs(s[0]), secs(median(s)), secs(s[len(s)-1]), note)
}

// grade grades the reference once and appends its wall time and a note with the stage split.
func grade(ctx context.Context, g *grading.Grader, ch grading.Challenge, notes []string, totals []time.Duration) ([]string, []time.Duration, error) {
	cached := "built"
	v, err := g.Grade(ctx, ch, referenceDir, func(e grading.Event) {
		if e.Stage == "build" && e.Done && e.Note != "" {
			cached = e.Note
		}
	})
	if err != nil {
		return nil, nil, err
	}
	t := v.Timings
	d := func(m grading.Millis) string { return secs(time.Duration(m)) }
	notes = append(notes, fmt.Sprintf("%s %d%%: build %s (%s) · provision %s · app start %s · scenarios %s",
		v.Status, v.Score, d(t.Build), cached, d(t.Provision), d(t.Total-t.Build-t.Provision-t.Scenarios), d(t.Scenarios)))
	return notes, append(totals, time.Duration(t.Total)), nil
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}
