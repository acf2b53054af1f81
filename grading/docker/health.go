package docker

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/moby/moby/client"
)

// Ping checks that the engine answers, for a runner's health check.
func (e *Engine) Ping(ctx context.Context) error {
	if _, err := e.cli.Ping(ctx, client.PingOptions{}); err != nil {
		return fmt.Errorf("%w at %s: %v", ErrNoEngine, e.cli.DaemonHost(), err)
	}
	return nil
}

// RequiredImages are the images a grading cannot do without: the sidecars, the agent, and the
// toolchain images that are ours (an official one is pulled by the builder on first use, but a
// missing holdfast/ one would make every learner's build fail for a reason that is not theirs).
func (e *Engine) RequiredImages() []string {
	need := []string{e.cfg.PostgresImage, e.cfg.RedisImage, e.cfg.AgentImage}
	for _, v := range e.cfg.BuildArgs {
		if strings.HasPrefix(v, "holdfast/") && !slices.Contains(need, v) {
			need = append(need, v)
		}
	}
	slices.Sort(need[3:]) // map order: keep messages stable
	return need
}

// MissingImages lists the RequiredImages the engine does not have. New refuses to start without
// them; a running runner's health check asks again, since an image can be removed under it.
func (e *Engine) MissingImages(ctx context.Context) ([]string, error) {
	var missing []string
	for _, img := range e.RequiredImages() {
		if _, err := e.cli.ImageInspect(ctx, img); err != nil {
			if isNotFound(err) {
				missing = append(missing, img)
				continue
			}
			return nil, fmt.Errorf("inspect image %s: %w", img, err)
		}
	}
	return missing, nil
}
