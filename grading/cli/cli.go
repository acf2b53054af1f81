// Package cli is the runner's command line: `runner grade` grades a local directory and prints
// the report, `runner work` grades the pushes the GitHub App queues. cmd/runner only wires it.
package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/holdfast-ci/holdfast/grading/app/config"
	"github.com/holdfast-ci/holdfast/scenarios/catalog"
)

// Exit codes of `runner grade`.
const (
	exitPass        = 0 // every scenario passed
	exitFail        = 1 // the submission failed: scenarios, build, crash or time-out
	exitUsage       = 2 // bad command line or input
	exitGraderError = 3 // Holdfast itself failed
)

// Main runs the runner with the challenges of packs (catalog.Builtin first, then any
// operator's; cmd/runner and `runner pack build` pass them) and the process's arguments until
// done or interrupted, and exits with its code.
func Main(packs ...catalog.Pack) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := exitGraderError
	if cat, err := catalog.New(packs...); err != nil { // a broken challenge pack stops every command
		fmt.Fprintln(os.Stderr, "runner:", err)
	} else {
		code = run(ctx, cat, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	}
	stop()
	os.Exit(code)
}

// roles is the configuration each command reads (config.Role), checked before it starts.
var roles = map[string]config.Role{
	"grade": config.Local, "compare": config.Local, "build": config.Sandbox, "stability": config.Sandbox, "janitor": config.Sandbox,
	"work": config.Runner, "healthcheck": config.RunnerHealth,
}

// run runs the command args names, with the challenges of cat and its configuration from getenv
// (os.Getenv in production).
func run(ctx context.Context, cat *catalog.Catalog, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	var cfg config.Config
	if role, ok := roles[args[0]]; ok {
		var err error
		if cfg, err = config.FromEnv(getenv, role); err != nil {
			fmt.Fprintf(stderr, "runner %s: %v\n", args[0], err)
			return exitUsage
		}
	}
	switch args[0] {
	case "grade":
		return grade(ctx, cat.Lookup, args[1:], cfg, stdout, stderr, log)
	case "build":
		return buildCmd(ctx, args[1:], cfg, stdout, stderr, log)
	case "compare":
		return compareCmd(ctx, args[1:], cfg, stdout, stderr, log, cat.Lookup)
	case "janitor":
		return janitor(ctx, args[1:], cfg, stderr, log)
	case "stability":
		return stability(ctx, cat.Lookup, args[1:], cfg, stdout, stderr, log)
	case "challenges":
		return challenges(cat, stdout)
	case "pack":
		return packCmd(ctx, args[1:], stderr)
	case "work":
		return work(ctx, cfg, cat.Lookup, stderr, slog.New(slog.NewJSONHandler(stderr, nil)))
	case "healthcheck":
		return healthcheck(ctx, cfg, stdout, stderr)
	case "help", "-h", "--help":
		usage(stdout)
		return exitPass
	}
	fmt.Fprintf(stderr, "runner: unknown command %q\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  runner grade --challenge SLUG [--json] [--show-hidden] [--ctrf FILE] [--junit FILE] DIR
      Build the submission in DIR, run it in a sandbox and print the verdict; --ctrf and
      --junit also write it as CTRF JSON and JUnit XML.
      Exit 0 on a pass, 1 on a failed submission, 2 on bad input, 3 on a grader error.
      Learners use holdfast (cmd/holdfast): holdfast test in their repository runs this
      with the public scenarios only, without a Holdfast checkout.
  runner compare --challenge SLUG [--json] [--show-hidden] BASE_DIR HEAD_DIR
      Grade a refactor: run the same scenarios on BASE_DIR and HEAD_DIR and report every
      behaviour that changed, with the code's quality deltas (information, not graded).
      Exit 0 when no behaviour changed, 1 when some did or the head failed, 2, 3 as above.
  runner build [--jobs 2] [--timeout 100s] DIR...
      Build the images of the submissions in DIR... the way the grader does, without grading;
      a later grading of the same files reuses the image. --timeout bounds each build (a
      grading's 100 s by default). Exit 0 when all built, 1 when one did not, 2, 3 as above.
  runner stability --challenge SLUG [--runs 20] [--stress] DIR...
      Grade each DIR --runs times and print, per scenario, how often it passed and failed.
      A scenario that flips is a grader defect. --stress loads every core with stress-ng.
      Exit 0 with no flip, 1 with one, 2, 3 as above. A benchmark: not run in CI.
  runner work
      Grade the pushes the GitHub App queues (River worker). Configuration from the
      environment (see README.md); SIGTERM stops taking jobs and finishes or hands back the
      gradings in flight. GET /healthz and /metrics on RUNNER_HEALTH_LISTEN
      (default 127.0.0.1:9090; off for none).
  runner healthcheck
      Ask the runner working on this host for its health (GET /healthz on
      RUNNER_HEALTH_LISTEN, default 127.0.0.1:9090). Exit 0 when healthy, 1 when not.
  runner challenges
      List the challenges: slug, title, difficulty, languages, formats.
  runner janitor [--older-than 10m] [--every-namespace]
      Remove sandboxes that crashed runners left behind (HOLDFAST_NAMESPACE's, or all).
  runner pack build --with MODULE[@VERSION][=DIR]... [-o DIR]
      Build runner and app with challenge packs (README, "Challenge packs"): a temporary
      module passes the built-in pack and each pack's Pack() to Holdfast's commands, then
      go build writes DIR/runner and DIR/app. =DIR uses a local directory. Say which Holdfast with
      --with github.com/holdfast-ci/holdfast=CHECKOUT (or @VERSION; default this runner's).
      Needs the go command. Exit 0 when built, 1 when go failed, 2 on bad input.

environment:
  HOLDFAST_POSTGRES_IMAGE  Postgres sidecar image (default holdfast/postgres:15; postgres:16 works)
  HOLDFAST_REDIS_IMAGE     Redis sidecar image (default holdfast/redis:7; redis:7 works)
  HOLDFAST_AGENT_IMAGE     agent image (default holdfast/agent:dev)
  HOLDFAST_GO_IMAGE        GO_IMAGE build argument for learners' Dockerfiles (default holdfast/golang:local)
  HOLDFAST_NODE_IMAGE      NODE_IMAGE build argument (default holdfast/node:local; node:20-bookworm-slim works)
  HOLDFAST_PYTHON_IMAGE    PYTHON_IMAGE build argument (default holdfast/python:local; python:3.11-slim-bookworm works)
  HOLDFAST_PIP_INSTALL     PIP_INSTALL build argument: 0 (default) when the Python image has the packages, 1 to pip install
  HOLDFAST_SKIP_HOST_GUARD runner work: 1 only for a remote engine whose host has the firewall rule;
                           grade, compare and holdfast test skip the rule (it needs root) and say so, 0 asks for it
  HOLDFAST_NAMESPACE       label on this runner's sandboxes; its janitor sweeps only these (default "default")
  HOLDFAST_RUNTIME         runtime of learners' app containers: runsc (gVisor, default) or runc; the runner
                           refuses to start when the engine lacks it (deploy/bootstrap.sh registers runsc);
                           grade and compare, run on a learner's own machine, default to runc and say so
  HOLDFAST_BUILD_NETWORK   where image builds run: fenced (default; a network whose only way out is an
                           egress proxy to HOLDFAST_BUILD_ALLOW) or open (Docker's bridge: steps reach this host)
  HOLDFAST_BUILD_ALLOW     host names builds may fetch from, comma-separated (default the Go, npm, PyPI
                           and Debian registries; ".example.org" covers its subdomains)
  HOLDFAST_BUILD_PIDS      processes one build may run (default 256; -1 for no cap, needed where the
                           runner cannot write the Docker host's cgroups; grade and compare default to -1)
  HOLDFAST_IMAGE_MAX_AGE   runner work removes learner images unused for longer (default 24h)
  HOLDFAST_DISK_FLOOR      free space on the engine's data root under which runner work prunes, then takes
                           no job until space returns: 5GiB (default), 10%, or off
  HOLDFAST_DISK_PATH       where the runner sees the engine's data root (default its DockerRootDir)
  DOCKER_HOST              Docker engine (default the local socket)
`)
}
