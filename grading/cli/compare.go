package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/app/config"
	"github.com/holdfast-ci/holdfast/grading/compare"
)

// compareCmd grades a refactor: BASE_DIR and HEAD_DIR with the same scenarios, one after the
// other, then reports every behaviour that changed and the code's quality deltas. lookup finds
// the challenge (the catalog's Lookup; tests pass their own).
func compareCmd(ctx context.Context, args []string, cfg config.Config, stdout, stderr io.Writer, log *slog.Logger, lookup func(string) (grading.Challenge, error)) int {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	slug := fs.String("challenge", "", "challenge slug, e.g. refactor-order-pricing")
	asJSON := fs.Bool("json", false, "print the comparison as JSON instead of the text report")
	showHidden := fs.Bool("show-hidden", false, "show hidden and reviewer-only scenarios (authors, reviewers)")
	hardCap := fs.Duration("timeout", config.DefaultHardCap, "hard cap on build and run together, per side")
	startTimeout := fs.Duration("start-timeout", 0, "how long the app may take to answer /healthz (default: the challenge's)")
	dirs, err := parseInterleaved(fs, args)
	if err != nil {
		return exitUsage
	}
	if len(dirs) != 2 || *slug == "" {
		fmt.Fprintln(stderr, "runner compare: want --challenge SLUG and two directories, the base and the head, e.g. runner compare --challenge refactor-order-pricing ./main ./my-refactor")
		return exitUsage
	}
	var checked [2]string
	for i, d := range dirs {
		if checked[i], err = checkDir(d); err != nil {
			fmt.Fprintln(stderr, "runner compare:", err)
			return exitUsage
		}
	}
	ch, err := lookup(*slug)
	if err != nil {
		fmt.Fprintln(stderr, "runner compare:", err)
		return exitUsage
	}
	if *startTimeout > 0 {
		ch.Limits.StartTimeout = *startTimeout
	}

	eng := openLocalEngine(ctx, localEngineConfig(cfg, stderr), "runner compare", stderr, log)
	if eng == nil {
		return exitGraderError
	}
	defer eng.Close()

	view := grading.LearnerView
	if *showHidden {
		view = grading.ReviewerView
	}
	printers := map[compare.Side]func(grading.Event){
		compare.Base: progressPrinter(stderr, view, len(ch.Scenarios)),
		compare.Head: progressPrinter(stderr, view, len(ch.Scenarios)),
	}
	announced := map[compare.Side]bool{}
	progress := func(side compare.Side, e grading.Event) {
		if !announced[side] {
			announced[side] = true
			dir := checked[0]
			if side == compare.Head {
				dir = checked[1]
			}
			fmt.Fprintf(stderr, "grading the %s, %s, as %s\n", side, dir, ch.Slug)
		}
		printers[side](e)
	}
	c := &compare.Comparer{Grader: &grading.Grader{Engine: eng, HardCap: *hardCap, Log: log}}
	r, err := c.Compare(ctx, ch, checked[0], checked[1], progress)
	if err != nil {
		fmt.Fprintln(stderr, "runner compare: grader error:", err)
		return exitGraderError
	}
	shown := compare.ForView(r, view)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(shown); err != nil {
			return exitGraderError
		}
	} else if err := compare.WriteText(stdout, shown); err != nil {
		return exitGraderError
	}
	switch r.Status {
	case grading.Passed:
		return exitPass
	case grading.GraderError:
		return exitGraderError
	}
	return exitFail
}

// parseInterleaved parses flags wherever they stand among the positional arguments, so that
// `compare --challenge X BASE HEAD --json` works as the usage shows it.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}
