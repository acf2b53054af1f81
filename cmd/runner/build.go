package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/holdfast-ci/holdfast/grading/docker"
)

// buildCmd builds the images of submissions without grading them, a few at a time: the grader
// (and the tests) then find each image by its context hash and skip the build. The test command
// uses it to build every challenge's submissions while the platform's tests leave the CPU idle.
func buildCmd(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) int {
	fs := flag.NewFlagSet("build", flag.ContinueOnError)
	fs.SetOutput(stderr)
	jobs := fs.Int("jobs", 2, "builds at a time")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() == 0 || *jobs < 1 {
		fmt.Fprintln(stderr, "runner build: want one or more directories (and --jobs of 1 or more), e.g. runner build ./my-solution")
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
	eng, err := docker.New(ctx, engineConfig(), log)
	if err != nil {
		fmt.Fprintln(stderr, "runner build:", err)
		return exitGraderError
	}
	defer eng.Close()

	var (
		mu      sync.Mutex
		failed  int
		errored int
		wg      sync.WaitGroup
		next    = make(chan int)
	)
	for range min(*jobs, len(dirs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if ctx.Err() != nil {
					continue // interrupted: the rest are not started
				}
				start := time.Now()
				b, err := eng.Build(ctx, dirs[i])
				took := time.Since(start).Round(100 * time.Millisecond)
				mu.Lock()
				arg := fs.Arg(i)
				switch {
				case err != nil:
					errored++
					fmt.Fprintf(stderr, "%s: grader error: %v\n", arg, err)
				case b.Failed:
					failed++
					fmt.Fprintf(stdout, "%s: build failed after %s: %s\n%s\n", arg, took, b.Reason, indent(b.LogTail))
				case b.Cached:
					fmt.Fprintf(stdout, "%s: %s (already built)\n", arg, b.Image)
				default:
					fmt.Fprintf(stdout, "%s: %s built in %s\n", arg, b.Image, took)
				}
				mu.Unlock()
			}
		}()
	}
	for i := range dirs {
		next <- i
	}
	close(next)
	wg.Wait()
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "runner build: interrupted:", ctx.Err())
		return exitGraderError
	}
	switch {
	case errored > 0:
		return exitGraderError
	case failed > 0:
		return exitFail
	}
	return exitPass
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return "    (no build output)"
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}
