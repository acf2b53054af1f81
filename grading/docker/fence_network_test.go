package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

// TestEnsureNetworkFromManyRunnersAtOnce: runners that make the shared egress network at the same
// moment end with one network, and each uses that one. Docker 20.10 lets a second network take a
// name already in use; before ensureNetwork cleaned up, two test packages starting on a fresh
// engine made four holdfast-egress networks and every build after failed as "ambiguous".
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
			ids[i], errs[i] = e.ensureNetwork(ctx, name, client.NetworkCreateOptions{Driver: "bridge"})
		}()
	}
	start.Done()
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("runner %d: %v", i, err)
		}
		if ids[i] != ids[0] {
			t.Errorf("runner %d uses network %.12s, runner 0 %.12s: want one network for all", i, ids[i], ids[0])
		}
	}
	nets, err := engines[0].networksNamed(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if len(nets) != 1 || nets[0].ID != ids[0] {
		t.Fatalf("%d networks named %s after the runners made it; want exactly the one they use (%.12s)", len(nets), name, ids[0])
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
