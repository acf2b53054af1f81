// Command agent runs inside every grading sandbox: it hosts the fault proxies in front of the
// sidecars and the downstream fakes, and a token-protected control API for the runner.
//
// Environment: HOLDFAST_AGENT_TOKEN (required), HOLDFAST_AGENT_LINKS
// ("postgres=:5432>db:5432,redis=:6379>cache:6379,provider=:8080>127.0.0.1:8081").
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/holdfast-ci/holdfast/scenarios/agent"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if len(os.Args) > 1 && os.Args[1] == "egress" {
		if err := runEgress(log); err != nil {
			log.Error("egress proxy stopped", "err", err)
			os.Exit(1)
		}
		return
	}
	if err := run(log); err != nil {
		log.Error("agent stopped", "err", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	links, err := agent.ParseLinks(os.Getenv("HOLDFAST_AGENT_LINKS"))
	if err != nil {
		return fmt.Errorf("HOLDFAST_AGENT_LINKS: %w", err)
	}
	srv, err := agent.NewServer(agent.Config{Token: os.Getenv("HOLDFAST_AGENT_TOKEN"), Links: links}, log)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return srv.Run(ctx)
}
