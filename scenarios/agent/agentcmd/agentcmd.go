// Package agentcmd is the agent's command line: what runs inside every grading sandbox (the
// fault proxies in front of the sidecars, the downstream fakes and the runner's control API)
// and, as `agent egress`, the proxy learners' builds reach the registries through. cmd/agent
// wires it; `holdfast agent` runs the same code, so the learner's tool can build the agent
// image from its own binary.
package agentcmd

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/holdfast-ci/holdfast/scenarios/agent"
)

// Run runs the agent until ctx ends. With args ["egress"] it runs the build egress proxy
// instead. Environment (read through getenv): HOLDFAST_AGENT_TOKEN (required),
// HOLDFAST_AGENT_LINKS ("postgres=:5432>db:5432,redis=:6379>cache:6379,provider=:8080>127.0.0.1:8081");
// for egress, see runEgress.
func Run(ctx context.Context, args []string, getenv func(string) string, log *slog.Logger) error {
	switch {
	case len(args) == 0:
	case len(args) == 1 && args[0] == "egress":
		if err := runEgress(ctx, getenv, log); err != nil {
			return fmt.Errorf("egress proxy: %w", err)
		}
		return nil
	default:
		return fmt.Errorf("unknown arguments %q: the agent takes none, or egress", args)
	}
	links, err := agent.ParseLinks(getenv("HOLDFAST_AGENT_LINKS"))
	if err != nil {
		return fmt.Errorf("HOLDFAST_AGENT_LINKS: %w", err)
	}
	srv, err := agent.NewServer(agent.Config{Token: getenv("HOLDFAST_AGENT_TOKEN"), Links: links}, log)
	if err != nil {
		return err
	}
	return srv.Run(ctx)
}
