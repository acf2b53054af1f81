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
	// HOLDFAST_RUNTIME as the runner reads it: unset is gVisor, the default.
	eng, err := docker.New(ctx, docker.Config{Namespace: Namespace(), Runtime: os.Getenv("HOLDFAST_RUNTIME")}, log)
	if err != nil {
		if os.Getenv("HOLDFAST_REQUIRE_DOCKER") != "" {
			t.Fatalf("Docker is required here (HOLDFAST_REQUIRE_DOCKER is set): %v", err)
		}
		t.Skipf("no usable Docker engine: %v (run `bash deploy/bootstrap.sh`, or set HOLDFAST_REQUIRE_DOCKER=1 to fail instead)", err)
	}
	t.Cleanup(func() { eng.Close() })
	return eng
}

// Namespace returns a fresh sandbox namespace, for a test that configures an engine (or a
// runner process, as HOLDFAST_NAMESPACE) itself.
func Namespace() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "test-" + hex.EncodeToString(b)
}
