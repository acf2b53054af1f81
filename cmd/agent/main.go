// Command agent runs inside every grading sandbox: it hosts the fault proxies in front of the
// sidecars and the downstream fakes, and a token-protected control API for the runner;
// `agent egress` is the proxy learners' builds fetch through. Everything it does is in
// scenarios/agent/agentcmd; this file only wires it.
//
// Environment: HOLDFAST_AGENT_TOKEN (required), HOLDFAST_AGENT_LINKS
// ("postgres=:5432>db:5432,redis=:6379>cache:6379,provider=:8080>127.0.0.1:8081").
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/holdfast-ci/holdfast/scenarios/agent/agentcmd"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := agentcmd.Run(ctx, os.Args[1:], os.Getenv, log)
	stop()
	if err != nil {
		log.Error("agent stopped", "err", err)
		os.Exit(1)
	}
}
