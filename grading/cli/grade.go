package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/app/config"
	"github.com/holdfast-ci/holdfast/grading/docker"
	"github.com/holdfast-ci/holdfast/scenarios"
)

// grade is `runner grade`; lookup finds the challenge (the catalog's Lookup).
func grade(ctx context.Context, lookup func(string) (grading.Challenge, error), args []string, cfg config.Config, stdout, stderr io.Writer, log *slog.Logger) int {
	fs := flag.NewFlagSet("grade", flag.ContinueOnError)
	fs.SetOutput(stderr)
	slug := fs.String("challenge", "", "challenge slug, e.g. idempotent-payments")
	asJSON := fs.Bool("json", false, "print the verdict as JSON instead of the text report")
	showHidden := fs.Bool("show-hidden", false, "show hidden and reviewer-only scenarios (authors, reviewers)")
	hardCap := fs.Duration("timeout", config.DefaultHardCap, "hard cap on build and run together")
	startTimeout := fs.Duration("start-timeout", 0, "how long the app may take to answer /healthz (default: the challenge's)")
	var results resultFiles
	fs.StringVar(&results.ctrf, "ctrf", "", "also write the results to `FILE` as CTRF JSON (the common test report format)")
	fs.StringVar(&results.junit, "junit", "", "also write the results to `FILE` as JUnit XML")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() != 1 || *slug == "" {
		fmt.Fprintln(stderr, "runner grade: want --challenge SLUG and one directory, e.g. runner grade --challenge idempotent-payments ./my-solution")
		return exitUsage
	}
	ch, err := lookup(*slug)
	if err != nil {
		fmt.Fprintln(stderr, "runner grade:", err)
		return exitUsage
	}
	if *startTimeout > 0 {
		ch.Limits.StartTimeout = *startTimeout
	}
	dir, err := checkDir(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(stderr, "runner grade:", err)
		return exitUsage
	}
	if err := results.check(); err != nil {
		fmt.Fprintln(stderr, "runner grade:", err)
		return exitUsage
	}

	eng := openLocalEngine(ctx, localEngineConfig(cfg, stderr), "runner grade", stderr, log)
	if eng == nil {
		return exitGraderError
	}
	defer eng.Close()

	view := grading.LearnerView
	if *showHidden {
		view = grading.ReviewerView
	}
	g := &grading.Grader{Engine: eng, HardCap: *hardCap, Log: log}
	fmt.Fprintf(stderr, "grading %s as %s\n", dir, ch.Slug)
	spans, started := grading.NewSpans(), time.Now()
	v, err := g.Grade(ctx, ch, dir, spans.Wrap(progressPrinter(stderr, view, len(ch.Scenarios))))
	if err != nil {
		fmt.Fprintln(stderr, "runner grade: grader error:", err)
		return exitGraderError
	}
	shown := grading.ForView(v, view)
	if err := results.write(shown, grading.RunInfo{Start: started, Stop: time.Now(), Spans: spans.All()}); err != nil {
		fmt.Fprintln(stderr, "runner grade:", err)
		return exitGraderError
	}
	return writeVerdict(stdout, shown, *asJSON)
}

// writeVerdict prints shown, a verdict as its reader may see it (ForView), as JSON or as the
// text report, and returns the exit code its status means: runner grade's and holdfast test's.
func writeVerdict(stdout io.Writer, shown grading.Verdict, asJSON bool) int {
	var err error
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(shown)
	} else {
		err = grading.WriteText(stdout, shown)
	}
	switch {
	case err != nil, shown.Status == grading.GraderError:
		return exitGraderError
	case shown.Status == grading.Passed:
		return exitPass
	}
	return exitFail
}

// checkDir turns bad input into a sentence before anything is built or started.
func checkDir(arg string) (string, error) {
	dir, err := filepath.Abs(arg)
	if err != nil {
		return "", err
	}
	st, err := os.Stat(dir)
	if err != nil {
		return "", fmt.Errorf("cannot read %s: %w", arg, errors.Unwrap(err))
	}
	if !st.IsDir() {
		return "", fmt.Errorf("%s is a file; give the directory that holds your Dockerfile", arg)
	}
	if _, err := os.Stat(filepath.Join(dir, "Dockerfile")); err != nil {
		return "", fmt.Errorf("%s has no Dockerfile; the grader builds your app from a Dockerfile at the directory's root (the starter has one)", arg)
	}
	return dir, nil
}

// openLocalEngine connects to the engine for a command run by hand (grade, compare, holdfast
// test) and removes the sandboxes its earlier runs left behind. It says why under the command's
// name and returns nil when there is no engine to grade on.
func openLocalEngine(ctx context.Context, cfg docker.Config, cmd string, stderr io.Writer, log *slog.Logger) *docker.Engine {
	eng, err := docker.New(ctx, cfg, log)
	if err != nil {
		fmt.Fprintln(stderr, cmd+":", err)
		return nil
	}
	if runs, err := eng.Janitor(ctx, 10*time.Minute); err != nil {
		log.Warn("janitor", "err", err)
	} else if len(runs) > 0 {
		fmt.Fprintf(stderr, "cleaned %d sandbox(es) left by earlier runs\n", len(runs))
	}
	return eng
}

// localEngineConfig is the engine's configuration for the commands a learner runs on their own
// machine (grade, compare, holdfast test: config.Local and config.Learner): there the code
// graded is their own, and their engine usually has neither gVisor nor cgroup v1 (Docker
// Desktop, cgroup v2 distributions). Unless HOLDFAST_RUNTIME, HOLDFAST_BUILD_PIDS or
// HOLDFAST_SKIP_HOST_GUARD say otherwise, the app runs under runc, builds have no pids cap and
// no firewall rule is installed — said on w at every start, never silently. The grading service
// (runner work) keeps gVisor, the cap and the rule by default.
func localEngineConfig(cfg config.Config, w io.Writer) docker.Config {
	var said []string
	if !cfg.Given("HOLDFAST_RUNTIME") {
		said = append(said, fmt.Sprintf("your app runs under %s (HOLDFAST_RUNTIME=%s for gVisor, as the grading service does)", cfg.Runtime, config.DefaultRuntime))
	}
	if !cfg.Given("HOLDFAST_BUILD_PIDS") {
		said = append(said, fmt.Sprintf("builds have no pids cap (HOLDFAST_BUILD_PIDS=%d sets the service's)", config.DefaultBuildPids))
	}
	if !cfg.Given("HOLDFAST_SKIP_HOST_GUARD") {
		// The rule needs root and iptables, which Docker Desktop and most laptops lack; it
		// guards a shared grading host from learners, not a learner from their own code.
		said = append(said, "no firewall rule keeps your app from this machine's services (HOLDFAST_SKIP_HOST_GUARD=0 installs the service's; it needs root and iptables)")
	}
	if len(said) > 0 {
		fmt.Fprintf(w, "grading on your own machine: %s\n", strings.Join(said, "; "))
	}
	return cfg.Engine()
}

// progressPrinter prints each stage as it starts and finishes. Scenarios are one stage: the
// report that follows lists each of them once, so progress does not. On a terminal, one line
// shows the scenario that just finished, redrawn in place (hidden ones unnamed in the learner
// view); elsewhere (a CI log, a pipe) nothing is printed between the stage's start and end.
func progressPrinter(w io.Writer, view grading.View, total int) func(grading.Event) {
	return newProgress(w, view, total, isTerminal(w))
}

// newProgress is progressPrinter, told whether w is a terminal.
func newProgress(w io.Writer, view grading.View, total int, live bool) func(grading.Event) {
	n, done := 0, 0
	var start time.Time
	redraw := func(line string) {
		// Up one line, erase it, write anew: the cursor always stays at the start of a fresh
		// line, so whatever is printed next (the report) never lands on a half-drawn one.
		fmt.Fprintf(w, "\x1b[1A\x1b[2K%s\n", line)
	}
	return func(e grading.Event) {
		switch {
		case e.Stage == "scenario" && !e.Done:
			if n++; n == 1 {
				start = time.Now()
				fmt.Fprintf(w, "  %-9s … %d to run\n", "scenarios", total)
			}
		case e.Stage == "scenario":
			done++
			if done == total {
				line := fmt.Sprintf("  %-9s done in %s", "scenarios", time.Since(start).Round(10*time.Millisecond))
				if live {
					redraw(line)
				} else {
					fmt.Fprintln(w, line)
				}
				return
			}
			if !live {
				return
			}
			r := e.Result
			name, outcome := r.Slug, string(r.Outcome)
			if view == grading.LearnerView && r.Visibility != scenarios.Public {
				name, outcome = "hidden scenario", "ran"
			}
			redraw(fmt.Sprintf("  %-9s [%d/%d] %s %s %s", "scenarios", done, total, name, outcome, e.Duration.Round(time.Millisecond)))
		case !e.Done:
			fmt.Fprintf(w, "  %-9s …\n", e.Stage)
		default:
			note := ""
			if e.Note != "" {
				note = " (" + e.Note + ")"
			}
			fmt.Fprintf(w, "  %-9s done in %s%s\n", e.Stage, e.Duration.Round(10*time.Millisecond), note)
		}
	}
}

// isTerminal reports whether w is a terminal that can redraw a line (not TERM=dumb).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("TERM") == "dumb" {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
