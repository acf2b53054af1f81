package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/app/config"
	"github.com/holdfast-ci/holdfast/grading/docker"
)

// stability grades each directory N times and prints, per scenario, how often it passed and
// failed: a scenario whose verdict flips between runs of the same code is a grader defect to
// fix, never one to retry. With --stress, stress-ng keeps both cores busy meanwhile, as a
// loaded grading host would.
func stability(ctx context.Context, lookup func(string) (grading.Challenge, error), args []string, cfg config.Config, stdout, stderr io.Writer, log *slog.Logger) int {
	fs := flag.NewFlagSet("stability", flag.ContinueOnError)
	fs.SetOutput(stderr)
	slug := fs.String("challenge", "", "challenge slug, e.g. idempotent-payments")
	runs := fs.Int("runs", 20, "gradings of each directory")
	stress := fs.Bool("stress", false, "load every core with stress-ng while grading")
	hardCap := fs.Duration("timeout", config.DefaultHardCap, "hard cap on build and run of one grading")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() == 0 || *slug == "" || *runs < 1 {
		fmt.Fprintln(stderr, "runner stability: want --challenge SLUG, --runs ≥ 1 and one or more directories, e.g. runner stability --challenge rate-limiter --runs 20 scenarios/ratelimiter/testdata/*")
		return exitUsage
	}
	ch, err := lookup(*slug)
	if err != nil {
		fmt.Fprintln(stderr, "runner stability:", err)
		return exitUsage
	}
	var dirs []string
	for _, arg := range fs.Args() {
		dir, err := checkDir(arg)
		if err != nil {
			fmt.Fprintln(stderr, "runner stability:", err)
			return exitUsage
		}
		dirs = append(dirs, dir)
	}
	if *stress {
		stop, err := startStress(ctx, time.Duration(*runs*len(dirs))*(*hardCap))
		if err != nil {
			fmt.Fprintln(stderr, "runner stability:", err)
			return exitUsage
		}
		defer stop()
	}
	eng, err := docker.New(ctx, cfg.Engine(), log)
	if err != nil {
		fmt.Fprintln(stderr, "runner stability:", err)
		return exitGraderError
	}
	defer eng.Close()
	g := &grading.Grader{Engine: eng, HardCap: *hardCap, Log: log}
	tally := newTally()
	for _, dir := range dirs {
		for i := 1; i <= *runs; i++ {
			if ctx.Err() != nil {
				return exitGraderError
			}
			v, err := g.Grade(ctx, ch, dir, nil)
			if err != nil {
				fmt.Fprintf(stderr, "%s run %d: grader error: %v\n", dir, i, err)
				tally.graderError(dir)
				continue
			}
			tally.add(dir, v)
			fmt.Fprintf(stderr, "%s run %d/%d: %s %d/100\n", dir, i, *runs, v.Status, v.Score)
			for _, r := range v.Scenarios {
				if r.Outcome == grading.OutcomeFailed && r.Failure != nil {
					// A flip in the table is only as useful as what the failing run saw.
					fmt.Fprintf(stderr, "  %s: expected %s; actual %s\n", r.Slug, r.Failure.Expected, r.Failure.Actual)
				}
			}
		}
	}
	flips := tally.write(stdout)
	switch {
	case tally.errors > 0:
		return exitGraderError
	case flips > 0:
		return exitFail
	}
	return exitPass
}

// tally counts outcomes per directory and scenario, in the order first seen.
type tally struct {
	order  []string
	counts map[string]map[grading.Outcome]int // "dir\x00slug" → outcome → runs
	status map[string]map[string]int          // dir → "passed 100" → runs
	errors int
}

func newTally() *tally {
	return &tally{counts: map[string]map[grading.Outcome]int{}, status: map[string]map[string]int{}}
}

func (t *tally) add(dir string, v grading.Verdict) {
	if t.status[dir] == nil {
		t.status[dir] = map[string]int{}
	}
	t.status[dir][fmt.Sprintf("%s %d", v.Status, v.Score)]++
	for _, r := range v.Scenarios {
		key := dir + "\x00" + r.Slug
		if t.counts[key] == nil {
			t.counts[key] = map[grading.Outcome]int{}
			t.order = append(t.order, key)
		}
		t.counts[key][r.Outcome]++
	}
}

func (t *tally) graderError(dir string) {
	t.errors++
	if t.status[dir] == nil {
		t.status[dir] = map[string]int{}
	}
	t.status[dir]["grader error"]++
}

// write prints the table and returns how many scenarios flipped (passed in some runs, failed in
// others).
func (t *tally) write(w io.Writer) int {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "submission\tscenario\tpassed\tfailed\tother\t")
	flips := 0
	for _, key := range t.order {
		dir, slug, _ := strings.Cut(key, "\x00")
		c := t.counts[key]
		other := 0
		for o, n := range c {
			if o != grading.OutcomePassed && o != grading.OutcomeFailed {
				other += n
			}
		}
		mark := ""
		if c[grading.OutcomePassed] > 0 && c[grading.OutcomeFailed] > 0 {
			flips++
			mark = "FLIPS"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\n", shortDir(dir), slug, c[grading.OutcomePassed], c[grading.OutcomeFailed], other, mark)
	}
	tw.Flush()
	for _, dir := range slices.Sorted(maps.Keys(t.status)) { // map order would shuffle the lines between runs
		var parts []string
		for _, s := range slices.Sorted(maps.Keys(t.status[dir])) {
			parts = append(parts, fmt.Sprintf("%s ×%d", s, t.status[dir][s]))
		}
		fmt.Fprintf(w, "%s: %s\n", shortDir(dir), strings.Join(parts, ", "))
	}
	fmt.Fprintf(w, "%d flipping scenario(s), %d grader error(s)\n", flips, t.errors)
	return flips
}

func shortDir(dir string) string {
	if i := strings.LastIndex(dir, "/testdata/"); i >= 0 {
		return dir[i+len("/testdata/"):]
	}
	return dir
}

// startStress loads every core with stress-ng for at most d; stop ends it.
func startStress(ctx context.Context, d time.Duration) (stop func(), err error) {
	path, err := exec.LookPath("stress-ng")
	if err != nil {
		return nil, errors.New("--stress needs stress-ng (apt-get install stress-ng)")
	}
	sctx, cancel := context.WithCancel(ctx)
	cmd := exec.CommandContext(sctx, path, "--cpu", "0", "--timeout", fmt.Sprintf("%ds", int(d.Seconds())+60), "--quiet")
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("start stress-ng: %w", err)
	}
	return func() { cancel(); _ = cmd.Wait() }, nil
}
