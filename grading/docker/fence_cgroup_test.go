package docker

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestBuildCgroupsAreSwept: a build cgroup left behind (its runner crashed) is removed, in
// every controller, by the next build's cgroup set-up once it is an hour old.
func TestBuildCgroupsAreSwept(t *testing.T) {
	if _, err := os.Stat(filepath.Join(cgroupRoot, "pids", "tasks")); err != nil {
		t.Skipf("no cgroup v1 pids controller here (%v)", err)
	}
	left := &buildCgroup{parent: "/holdfast-build/left0000test"}
	var dirs []string
	for _, c := range []string{"pids", "memory", "cpu"} {
		d := filepath.Join(cgroupRoot, c, left.parent)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Skipf("cannot create cgroups here (%v): the build pids cap needs root on the Docker host", err)
		}
		dirs = append(dirs, d)
	}
	t.Cleanup(left.remove)
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(dirs[0], old, old); err != nil {
		t.Fatal(err)
	}
	g, err := newBuildCgroup(64)
	if err != nil {
		t.Fatal(err)
	}
	g.remove()
	for _, d := range dirs {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("%s is still there", d)
		}
	}
	if _, err := os.Stat(filepath.Join(cgroupRoot, "pids", g.parent)); err == nil {
		t.Errorf("the new build's cgroup %s was not removed", g.parent)
	}
}
