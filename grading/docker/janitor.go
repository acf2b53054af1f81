package docker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/moby/moby/client"
)

// waitGone waits (at most 30 s) until a container someone else is removing no longer exists.
func (e *Engine) waitGone(ctx context.Context, id string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := e.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
		if isNotFound(err) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("still there 30 s after another removal began (%v)", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// removeRun removes every container and network labelled with the run id: the containers all at
// once (each removal mostly waits for its container's runtime to stop), then the networks.
func (e *Engine) removeRun(ctx context.Context, run string) error {
	f := make(client.Filters).Add("label", LabelRun+"="+run)
	cs, err := e.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return fmt.Errorf("list containers of run %s: %w", run, err)
	}
	errs := make([]error, len(cs.Items))
	var wg sync.WaitGroup
	for i, c := range cs.Items {
		wg.Go(func() {
			_, err := e.cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
			if isRemovalInProgress(err) {
				// Another teardown (the run's own, or a second runner's janitor) is removing it:
				// wait for that to finish, or the network removal below would find it still
				// attached.
				err = e.waitGone(ctx, c.ID)
			}
			if err != nil && !isNotFound(err) {
				errs[i] = fmt.Errorf("remove container %s: %w", c.ID[:12], err)
			}
		})
	}
	wg.Wait()
	ns, err := e.cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("list networks of run %s: %w", run, err))...)
	}
	for _, n := range ns.Items {
		if _, err := e.cli.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("remove network %s: %w", n.Name, err))
		}
	}
	return errors.Join(errs...)
}

// Janitor removes what runs of this engine's namespace older than maxAge left behind: a runner
// that crashed or was killed never got to tear its sandbox down. A Pool's sandbox is older than
// maxAge only once its pool's MaxIdle (LabelPoolIdle) has passed too. Sandboxes labelled with no
// namespace (made before namespaces existed) count as the default one's. It returns the run
// ids it cleaned.
func (e *Engine) Janitor(ctx context.Context, maxAge time.Duration) ([]string, error) {
	return e.janitor(ctx, maxAge, false)
}

// JanitorEveryNamespace is Janitor across every namespace: for an operator (or a CI machine)
// who knows that nothing else grades on this engine.
func (e *Engine) JanitorEveryNamespace(ctx context.Context, maxAge time.Duration) ([]string, error) {
	return e.janitor(ctx, maxAge, true)
}

func (e *Engine) janitor(ctx context.Context, maxAge time.Duration, everyNamespace bool) ([]string, error) {
	f := make(client.Filters).Add("label", LabelRun)
	cutoff := time.Now().Add(-maxAge).Unix()
	old := map[string]bool{}
	consider := func(labels map[string]string) {
		ns := labels[LabelNamespace]
		if ns == "" {
			ns = DefaultNamespace
		}
		if !everyNamespace && ns != e.cfg.Namespace {
			return
		}
		created, err := strconv.ParseInt(labels[LabelCreated], 10, 64)
		// A pooled sandbox may wait its pool's idle time before a grading takes it: its age
		// counts from then. A killed runner's pool goes once both have passed.
		idle, _ := strconv.ParseInt(labels[LabelPoolIdle], 10, 64)
		if err != nil || created+max(idle, 0) <= cutoff {
			old[labels[LabelRun]] = true
		}
	}
	cs, err := e.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list sandbox containers: %w", err)
	}
	for _, c := range cs.Items {
		consider(c.Labels)
	}
	ns, err := e.cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list sandbox networks: %w", err)
	}
	for _, n := range ns.Items {
		consider(n.Labels)
	}
	var runs []string
	var errs []error
	for run := range old {
		if err := e.removeRun(ctx, run); err != nil {
			errs = append(errs, err)
			continue
		}
		runs = append(runs, run)
	}
	return runs, errors.Join(errs...)
}
