// Package dockertest gives tests a real Docker engine with Holdfast's images, or a clear reason
// why there is none. Set HOLDFAST_REQUIRE_DOCKER=1 (CI does) to turn a missing engine into a
// failure instead of a skip.
package dockertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/grading/docker"
)

// Engine returns an engine for the test, closed when the test ends. Its sandboxes are in a
// namespace of their own (eng.Namespace()), so a test can check what it left behind while
// other packages grade beside it, and its janitor never touches theirs.
func Engine(t testing.TB) *docker.Engine {
	t.Helper()
	if testing.Short() {
		t.Skip("needs Docker; skipped in -short mode")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// HOLDFAST_RUNTIME and HOLDFAST_AGENT_IMAGE as the runner reads them: unset are gVisor and
	// holdfast/agent:dev, the defaults.
	eng, err := docker.New(ctx, docker.Config{Namespace: Namespace(), Runtime: os.Getenv("HOLDFAST_RUNTIME"),
		AgentImage: os.Getenv("HOLDFAST_AGENT_IMAGE")}, log)
	if err != nil {
		if os.Getenv("HOLDFAST_REQUIRE_DOCKER") != "" {
			t.Fatalf("Docker is required here (HOLDFAST_REQUIRE_DOCKER is set): %v", err)
		}
		t.Skipf("no usable Docker engine: %v (run `bash deploy/bootstrap.sh`, or set HOLDFAST_REQUIRE_DOCKER=1 to fail instead)", err)
	}
	t.Cleanup(func() { eng.Close() })
	return eng
}

// Keeper returns a Keeper with policy on eng, confined (unless policy says otherwise) to the
// test's own repository, "test/" + eng.Namespace(), so that its prunes leave every other
// test's images alone. A process that cannot see the engine's data root (a floor needs it)
// skips the test, saying so; with HOLDFAST_REQUIRE_DOCKER set it fails instead, as Engine does.
func Keeper(t testing.TB, eng *docker.Engine, policy docker.ImagePolicy) *docker.Keeper {
	t.Helper()
	if policy.Repo == "" {
		policy.Repo = "test/" + eng.Namespace()
	}
	k, err := docker.NewKeeper(context.Background(), eng, policy, slog.New(slog.DiscardHandler))
	if err != nil {
		if os.Getenv("HOLDFAST_REQUIRE_DOCKER") != "" {
			t.Fatalf("Docker is required here (HOLDFAST_REQUIRE_DOCKER is set), with its data root visible to this process: %v", err)
		}
		t.Skipf("this process cannot see the engine's data root: %v (set HOLDFAST_REQUIRE_DOCKER=1 to fail instead)", err)
	}
	return k
}

// Namespace returns a fresh sandbox namespace, for a test that configures an engine (or a
// runner process, as HOLDFAST_NAMESPACE) itself.
func Namespace() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "test-" + hex.EncodeToString(b)
}
