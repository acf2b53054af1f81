// Package dockertest gives tests a real Docker engine with Holdfast's images, or a clear reason
// why there is none. Set HOLDFAST_REQUIRE_DOCKER=1 (CI does) to turn a missing engine into a
// failure instead of a skip.
package dockertest

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/grading/docker"
)

// Engine returns an engine for the test, closed when the test ends.
func Engine(t testing.TB) *docker.Engine {
	t.Helper()
	if testing.Short() {
		t.Skip("needs Docker; skipped in -short mode")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	eng, err := docker.New(ctx, docker.Config{}, log)
	if err != nil {
		if os.Getenv("HOLDFAST_REQUIRE_DOCKER") != "" {
			t.Fatalf("Docker is required here (HOLDFAST_REQUIRE_DOCKER is set): %v", err)
		}
		t.Skipf("no usable Docker engine: %v (run `bash deploy/bootstrap.sh`, or set HOLDFAST_REQUIRE_DOCKER=1 to fail instead)", err)
	}
	t.Cleanup(func() { eng.Close() })
	return eng
}
