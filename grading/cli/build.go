package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/app/config"
	"github.com/holdfast-ci/holdfast/grading/docker"
)

// buildCmd builds the images of submissions without grading them, a few at a time: the grader
// (and the tests) then find each image by its context hash and skip the build. The test command
// uses it to build every challenge's submissions while the platform's tests leave the CPU idle.
func buildCmd(ctx context.Context, args []string, cfg config.Config, stdout, stderr io.Writer, log *slog.Logger) int {
	fs := flag.NewFlagSet("build", flag.ContinueOnError)
	fs.SetOutput(stderr)
	jobs := fs.Int("jobs", 2, "builds at a time")
	timeout := fs.Duration("timeout", 0, "bound on each build (default: a grading's, 100s); a longer one only warms the image cache on a busy machine, a grading still applies its own")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() == 0 || *jobs < 1 || *timeout < 0 {
		fmt.Fprintln(stderr, "runner build: want one or more directories (and --jobs of 1 or more, a --timeout of 0 or more), e.g. runner build ./my-solution")
		return exitUsage
	}
	dirs := make([]string, fs.NArg())
	for i, arg := range fs.Args() {
		dir, err := checkDir(arg)
		if err != nil {
			fmt.Fprintln(stderr, "runner build:", err)
			return exitUsage
		}
		dirs[i] = dir
	}
	ecfg := cfg.Engine()
	if *timeout > 0 {
		ecfg.BuildTimeout = *timeout
	}
	eng, err := docker.New(ctx, ecfg, log)
	if err != nil {
		fmt.Fprintln(stderr, "runner build:", err)
		return exitGraderError
	}
	defer eng.Close()

	// Each directory's outcome is printed as it ends (one at a time, so reports do not
	// interleave) and tallied after the last.
	var mu sync.Mutex
	results := make([]error, len(dirs)) // nil, errBuildFailed or the grader's error
	var g errgroup.Group
	g.SetLimit(*jobs)
	for i, dir := range dirs {
		if ctx.Err() != nil {
			break // interrupted: the rest are not started
		}
		g.Go(func() error {
			if ctx.Err() != nil {
				return nil // interrupted while waiting for a slot
			}
			start := time.Now()
			b, err := eng.Build(ctx, dir)
			took := time.Since(start).Round(100 * time.Millisecond)
			mu.Lock()
			defer mu.Unlock()
			arg := fs.Arg(i)
			switch {
			case err != nil:
				results[i] = err
				fmt.Fprintf(stderr, "%s: grader error: %v\n", arg, err)
			case b.Failed():
				results[i] = errBuildFailed
				fmt.Fprintf(stdout, "%s: build failed after %s\n", arg, took)
				grading.WriteText(stdout, grading.Verdict{Status: grading.BuildFailed, Message: b.Failure.Error(),
					LogTail: b.LogTail, Annotations: grading.Annotations(b.LogTail, b.Files)})
			case b.Cached:
				fmt.Fprintf(stdout, "%s: %s (already built)\n", arg, b.Image)
			default:
				fmt.Fprintf(stdout, "%s: %s built in %s\n", arg, b.Image, took)
			}
			return nil
		})
	}
	g.Wait()
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "runner build: interrupted:", ctx.Err())
		return exitGraderError
	}
	code := exitPass
	for _, err := range results {
		switch {
		case err == nil:
		case errors.Is(err, errBuildFailed):
			code = max(code, exitFail)
		default:
			code = exitGraderError
		}
	}
	return code
}

// errBuildFailed marks a directory whose build failed: the learner's failure, not the grader's.
var errBuildFailed = errors.New("build failed")
