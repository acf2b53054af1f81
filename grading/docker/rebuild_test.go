package docker_test

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/holdfast-ci/holdfast/grading/docker"
	"github.com/holdfast-ci/holdfast/grading/docker/dockertest"
)

// TestRebuiltToolchainRebuildsSubmissions: the build cache key names the image behind each build
// arg, so a submission graded before its toolchain image was rebuilt is built again after.
func TestRebuiltToolchainRebuildsSubmissions(t *testing.T) {
	dockertest.Engine(t) // skips without Docker
	ns := dockertest.Namespace()
	base := "hf-buildtest-base:" + ns
	tag := func(src string) {
		t.Helper()
		if out, err := exec.Command("docker", "tag", src, base).CombinedOutput(); err != nil {
			t.Fatalf("docker tag %s: %v %s", src, err, out)
		}
	}
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", base).Run() })
	ctx := context.Background()
	eng, err := docker.New(ctx, docker.Config{Namespace: ns, BuildArgs: map[string]string{"TEST_BASE": base}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("ARG TEST_BASE\nFROM ${TEST_BASE}\nCOPY Dockerfile /built-from\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tag("holdfast/redis:7")
	first, err := eng.Build(ctx, dir)
	if err != nil || first.Failed() {
		t.Fatalf("first build: %v %s", err, first.Failure)
	}
	again, _ := eng.Build(ctx, dir)
	if !again.Cached || again.Image != first.Image {
		t.Fatalf("same context, same toolchain: %+v; want the cached %s", again, first.Image)
	}
	tag("holdfast/postgres:15") // the "toolchain" rebuilt: same name, another image
	rebuilt, err := eng.Build(ctx, dir)
	if err != nil || rebuilt.Failed() || rebuilt.Cached || rebuilt.Image == first.Image {
		t.Fatalf("after the toolchain changed: %+v, %v; want a new build", rebuilt, err)
	}
	exec.Command("docker", "rmi", first.Image, rebuilt.Image).Run()
}
