package docker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/moby/moby/client"
)

// ErrNoRuntime means the engine lacks the runtime that Config.Runtime names. Its message says
// how to add it, or how to choose runc instead; the runner never falls back on its own.
var ErrNoRuntime = errors.New("the Docker engine lacks the container runtime for learner apps")

var runtimeRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// checkRuntime fails unless the engine has the runtime called name.
func checkRuntime(ctx context.Context, cli *client.Client, name string) error {
	if !runtimeRE.MatchString(name) {
		return fmt.Errorf("container runtime %q (HOLDFAST_RUNTIME): use runsc (gVisor, the default) or runc", name)
	}
	ictx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := cli.Info(ictx, client.InfoOptions{})
	if err != nil {
		return fmt.Errorf("ask the Docker engine which container runtimes it has: %w", err)
	}
	if _, ok := res.Info.Runtimes[name]; ok {
		return nil
	}
	fix := fmt.Sprintf("Register %q in the engine's /etc/docker/daemon.json (\"runtimes\") and send dockerd SIGHUP, or choose a runtime it has with HOLDFAST_RUNTIME", name)
	if name == DefaultRuntime {
		fix = "Install gVisor and register it: `sudo bash deploy/bootstrap.sh --engine-only` does both " +
			"(Debian trixie's runsc, and {\"runtimes\":{\"runsc\":{\"path\":\"/usr/bin/runsc\",\"runtimeArgs\":[\"--network=host\"]}}} " +
			"merged into /etc/docker/daemon.json, then SIGHUP to dockerd; no restart). To grade under runc instead, " +
			"with no gVisor kernel between learners' code and this host's, set HOLDFAST_RUNTIME=runc"
	}
	have := slices.Sorted(maps.Keys(res.Info.Runtimes))
	return fmt.Errorf("%w: learner apps run under %q (HOLDFAST_RUNTIME, default %s), but the engine at %s has only %s. %s",
		ErrNoRuntime, name, DefaultRuntime, cli.DaemonHost(), strings.Join(have, ", "), fix)
}
