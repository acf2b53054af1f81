// Command runtime measures what gVisor costs a grading: the same submission graded under runsc
// (the default for learner apps) and under runc, interleaved, and one markdown table of the
// stages' times side by side.
//
//	go run ./grading/docker/bench/runtime [-runs 5] [-challenge idempotent-payments] [DIR]
//
// DIR defaults to the challenge's reference (scenarios/SLUG/testdata/reference), run from the
// repository root. The image is built once before the runs (both runtimes grade the same cached
// image, so "build" is the cache lookup); one unrecorded grading under each runtime warms the
// caches. Then each round grades once under each runtime, the order swapped every round, so
// that drift in the machine's load hits both columns alike. Every grading must pass with the
// same score under both runtimes, or the bench stops: a slower runtime that changes verdicts
// is not a cost but a defect.
//
// "app start" is the time to start the app and see GET /healthz answer 200 (the verdict's
// total less build, provision and scenarios); the sidecars and the agent run under runc in both
// columns, so "provision" differs only by noise. HOLDFAST_POSTGRES_IMAGE, HOLDFAST_REDIS_IMAGE,
// HOLDFAST_AGENT_IMAGE and HOLDFAST_GO_IMAGE are honoured as by the runner.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/docker"
	"github.com/holdfast-ci/holdfast/scenarios/catalog"
)

var runtimes = []string{"runc", "runsc"}

// phases are the columns of one grading's Timings, in the table's order.
var phases = []string{"build (cached)", "provision", "app start", "scenarios", "total"}

func main() {
	runs := flag.Int("runs", 5, "gradings under each runtime (after one warm-up each)")
	slug := flag.String("challenge", "idempotent-payments", "challenge to grade")
	flag.Parse()
	dir := flag.Arg(0)
	if dir == "" {
		dir = filepath.Join("scenarios", strings.ReplaceAll(*slug, "-", ""), "testdata", "reference") // the folder is the package name: the slug without hyphens
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, *slug, dir, max(*runs, 1))
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench runtime:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, slug, dir string, runs int) error {
	if _, err := os.Stat(filepath.Join(dir, "Dockerfile")); err != nil {
		return fmt.Errorf("no submission at %s (run from the repository root, or name a DIR): %w", dir, err)
	}
	cat, err := catalog.New(catalog.Builtin())
	if err != nil {
		return err
	}
	ch, err := cat.Lookup(slug)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	graders := map[string]*grading.Grader{}
	var eng *docker.Engine
	for _, rt := range runtimes {
		cfg := docker.Config{PostgresImage: os.Getenv("HOLDFAST_POSTGRES_IMAGE"), RedisImage: os.Getenv("HOLDFAST_REDIS_IMAGE"),
			AgentImage: os.Getenv("HOLDFAST_AGENT_IMAGE"), Namespace: "bench-runtime", Runtime: rt}
		if img := os.Getenv("HOLDFAST_GO_IMAGE"); img != "" {
			cfg.BuildArgs = map[string]string{"GO_IMAGE": img}
		}
		eng, err = docker.New(ctx, cfg, log)
		if err != nil {
			return fmt.Errorf("engine for %s: %w", rt, err)
		}
		defer eng.Close()
		graders[rt] = &grading.Grader{Engine: eng, Log: log}
	}
	progress("building %s once (both runtimes grade this image)", dir)
	if b, err := eng.Build(ctx, dir); err != nil || b.Failed() {
		return fmt.Errorf("build %s: %v %s", dir, err, b.Failure)
	}

	times := map[string]map[string][]time.Duration{}
	for _, rt := range runtimes {
		times[rt] = map[string][]time.Duration{}
	}
	score := -1
	for round := 0; round <= runs; round++ { // round 0 warms up
		order := slices.Clone(runtimes)
		if round%2 == 1 {
			slices.Reverse(order)
		}
		for _, rt := range order {
			v, err := graders[rt].Grade(ctx, ch, dir, nil)
			if err != nil {
				return fmt.Errorf("grade under %s: %w", rt, err)
			}
			if v.Status != grading.Passed || (score >= 0 && v.Score != score) {
				return fmt.Errorf("round %d under %s: %s %d%% (%s); every grading must pass with one score", round, rt, v.Status, v.Score, v.Message)
			}
			score = v.Score
			t := v.Timings
			d := []time.Duration{time.Duration(t.Build), time.Duration(t.Provision),
				time.Duration(t.Total - t.Build - t.Provision - t.Scenarios), time.Duration(t.Scenarios), time.Duration(t.Total)}
			progress("round %d/%d %-5s %s %d%%: build %s, provision %s, app start %s, scenarios %s, total %s",
				round, runs, rt, v.Status, v.Score, secs(d[0]), secs(d[1]), secs(d[2]), secs(d[3]), secs(d[4]))
			if round == 0 {
				continue
			}
			for i, p := range phases {
				times[rt][p] = append(times[rt][p], d[i])
			}
		}
	}

	fmt.Printf("\n%s, %s: %d gradings under each runtime, interleaved, after one warm-up each; all passed with %d%%.\n"+
		"Median (min–max); the app alone runs under the column's runtime.\n\n", slug, dir, runs, score)
	fmt.Println("| Stage | runc | runsc (gVisor) | runsc − runc (median) |")
	fmt.Println("|---|---|---|---|")
	for _, p := range phases {
		rc, rs := times["runc"][p], times["runsc"][p]
		delta := median(rs) - median(rc)
		pct := ""
		if median(rc) > 0 {
			pct = fmt.Sprintf(" (%+.0f%%)", 100*delta.Seconds()/median(rc).Seconds())
		}
		fmt.Printf("| %s | %s | %s | %+.2f s%s |\n", p, spread(rc), spread(rs), delta.Seconds(), pct)
	}
	return nil
}

func median(d []time.Duration) time.Duration {
	s := slices.Sorted(slices.Values(d))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func spread(d []time.Duration) string {
	return fmt.Sprintf("%s (%s–%s)", secs(median(d)), secs(slices.Min(d)), secs(slices.Max(d)))
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}
