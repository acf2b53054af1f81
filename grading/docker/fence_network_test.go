package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// TestEnsureNetworkFromManyRunnersAtOnce: runners that make the shared egress network at the same
// moment each get a network to attach to, and once they are done one network is left. Docker
// 20.10 lets a second network take a name already in use; before ensureNetwork cleaned up, two
// test packages starting on a fresh engine made four holdfast-egress networks and every build
// after failed as "ambiguous". A runner that listed before a duplicate appeared can be handed the
// one another runner then removes (a full run saw 3 of 8 runners so): withNetwork attaches it to
// the one kept instead.
func TestEnsureNetworkFromManyRunnersAtOnce(t *testing.T) {
	t.Parallel()
	const runners = 8
	engines := make([]*Engine, runners)
	for i := range engines {
		engines[i] = testEngine(t) // a client of its own each, as separate runners
	}
	name := networkForTest(t, engines[0])
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ids := make([]string, runners)
	errs := make([]error, runners)
	var start, wg sync.WaitGroup
	start.Add(1)
	for i, e := range engines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start.Wait()
			errs[i] = e.withNetwork(ctx, name, client.NetworkCreateOptions{Driver: "bridge"}, func(id string) error {
				ids[i] = id
				return attachForTest(t, e, id) // as the egress proxy is attached
			})
		}()
	}
	start.Done()
	wg.Wait()
	used := map[string]bool{}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("runner %d: %v", i, err)
		}
		used[ids[i]] = true
	}
	t.Logf("%d runners attached to %d network(s)", runners, len(used))
	for _, e := range engines {
		detachForTest(t, e)
	}
	id, err := engines[0].ensureNetwork(ctx, name, client.NetworkCreateOptions{Driver: "bridge"})
	if err != nil {
		t.Fatal(err)
	}
	nets, err := engines[0].networksNamed(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if len(nets) != 1 || nets[0].ID != id || !used[id] {
		t.Fatalf("%d networks named %s once the runners were done; want exactly one, which a runner used", len(nets), name)
	}
}

// attachForTest runs a container of the agent image (an egress proxy, as ensureFence does)
// attached to network id, removed by detachForTest. Docker creates a container for a network
// that is gone; it is starting it that fails.
func attachForTest(t *testing.T, e *Engine, id string) error {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := e.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: "holdfast-test-attach-" + hex.EncodeToString(b),
		Config: &container.Config{Image: e.cfg.AgentImage, Cmd: []string{"egress"}, Env: []string{"HOLDFAST_EGRESS_LISTEN=:" + egressPort},
			Labels: map[string]string{"holdfast.test": e.Namespace()}},
		NetworkingConfig: &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{id: {}}},
	})
	if err != nil {
		return err
	}
	_, err = e.cli.ContainerStart(ctx, res.ID, client.ContainerStartOptions{})
	return err
}

func detachForTest(t *testing.T, e *Engine) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := e.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", "holdfast.test="+e.Namespace())})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Items {
		if _, err := e.cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestEnsureNetworkKeepsTheOldestOfDuplicates: duplicates left by an older runner are reduced to
// the oldest, which is what ensureNetwork returns, every time.
func TestEnsureNetworkKeepsTheOldestOfDuplicates(t *testing.T) {
	t.Parallel()
	e := testEngine(t)
	name := networkForTest(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var made []string
	for range 3 {
		res, err := e.cli.NetworkCreate(ctx, name, client.NetworkCreateOptions{Driver: "bridge"})
		if err != nil {
			t.Fatal(err)
		}
		made = append(made, res.ID)
	}
	nets, err := e.networksNamed(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if len(nets) != 3 {
		t.Skipf("this engine refuses a second network of one name (%d listed): nothing to clean up", len(nets))
	}
	for range 2 {
		id, err := e.ensureNetwork(ctx, name, client.NetworkCreateOptions{Driver: "bridge"})
		if err != nil {
			t.Fatal(err)
		}
		if id != made[0] {
			t.Fatalf("ensureNetwork chose %.12s; want the oldest, %.12s", id, made[0])
		}
	}
	if nets, err = e.networksNamed(ctx, name); err != nil {
		t.Fatal(err)
	}
	if len(nets) != 1 {
		t.Fatalf("%d networks named %s left; want 1", len(nets), name)
	}
}

// networkForTest is a network name of the test's own, whose networks are removed when it ends.
func networkForTest(t *testing.T, e *Engine) string {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "holdfast-test-net-" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		nets, _ := e.networksNamed(ctx, name)
		for _, n := range nets {
			e.cli.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{})
		}
	})
	return name
}

// TestWithNetworkUsesTheOneKept: a runner handed a network that another runner then removed as a
// duplicate (it listed only after an older one appeared) attaches to the one kept.
func TestWithNetworkUsesTheOneKept(t *testing.T) {
	t.Parallel()
	e := testEngine(t)
	name := networkForTest(t, e)
	t.Cleanup(func() { detachForTest(t, e) })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var given []string
	kept := ""
	err := e.withNetwork(ctx, name, client.NetworkCreateOptions{Driver: "bridge"}, func(id string) error {
		given = append(given, id)
		if len(given) == 1 { // the other runner: removes this one, keeps its own
			if _, err := e.cli.NetworkRemove(ctx, id, client.NetworkRemoveOptions{}); err != nil {
				t.Fatal(err)
			}
			res, err := e.cli.NetworkCreate(ctx, name, client.NetworkCreateOptions{Driver: "bridge"})
			if err != nil {
				t.Fatal(err)
			}
			kept = res.ID
		}
		return attachForTest(t, e, id)
	})
	if err != nil {
		t.Fatalf("withNetwork: %v (given %d networks)", err, len(given))
	}
	if len(given) != 2 || given[1] != kept {
		t.Fatalf("given %v; want the removed network, then the one kept (%.12s)", given, kept)
	}
}
