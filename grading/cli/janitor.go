package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/holdfast-ci/holdfast/grading/app/config"
	"github.com/holdfast-ci/holdfast/grading/docker"
)

func janitor(ctx context.Context, args []string, cfg config.Config, stderr io.Writer, log *slog.Logger) int {
	fs := flag.NewFlagSet("janitor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	olderThan := fs.Duration("older-than", 10*time.Minute, "remove sandboxes created longer ago than this")
	every := fs.Bool("every-namespace", false, "sweep every namespace's sandboxes, not only HOLDFAST_NAMESPACE's (only when nothing else grades on this engine)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	eng, err := docker.New(ctx, cfg.Engine(), log)
	if err != nil {
		fmt.Fprintln(stderr, "runner janitor:", err)
		return exitGraderError
	}
	defer eng.Close()
	sweep := eng.Janitor
	if *every {
		sweep = eng.JanitorEveryNamespace
	}
	runs, err := sweep(ctx, *olderThan)
	fmt.Fprintf(stderr, "removed %d sandbox(es)\n", len(runs))
	if err != nil {
		fmt.Fprintln(stderr, "runner janitor:", err)
		return exitGraderError
	}
	return exitPass
}
