package docker_test

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/grading/docker"
	"github.com/holdfast-ci/holdfast/grading/docker/dockertest"
)

// TestNewRefusesAMissingRuntime: a runtime the engine lacks stops the runner at start, with the
// variable to change in the message; it never grades under another one instead.
func TestNewRefusesAMissingRuntime(t *testing.T) {
	dockertest.Engine(t) // skips or fails without an engine, as the other Docker tests
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	eng, err := docker.New(ctx, docker.Config{Namespace: dockertest.Namespace(), Runtime: "holdfast-no-such-runtime"}, slog.New(slog.DiscardHandler))
	if err == nil {
		eng.Close()
		t.Fatal("New accepted a runtime the engine does not have")
	}
	if !errors.Is(err, docker.ErrNoRuntime) || !strings.Contains(err.Error(), "HOLDFAST_RUNTIME") || !strings.Contains(err.Error(), "holdfast-no-such-runtime") {
		t.Fatalf("want ErrNoRuntime naming the runtime and HOLDFAST_RUNTIME, got: %v", err)
	}
	_, err = docker.New(ctx, docker.Config{Namespace: dockertest.Namespace(), Runtime: "runsc --debug"}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "HOLDFAST_RUNTIME") {
		t.Fatalf("want a bad runtime name refused, got: %v", err)
	}
}

func TestDefaultRuntimeIsGVisor(t *testing.T) {
	if got := (docker.Config{}).Defaults().Runtime; got != "runsc" {
		t.Fatalf("default runtime %q, want runsc", got)
	}
}

// namespaceContainers maps each role's label to the inspect field asked for, for every
// container of eng's namespace.
func namespaceContainers(t *testing.T, eng *docker.Engine, format string) map[string]string {
	t.Helper()
	ids, err := exec.Command("docker", "ps", "-q", "--filter", "label="+docker.LabelNamespace+"="+eng.Namespace()).Output()
	if err != nil || len(strings.Fields(string(ids))) == 0 {
		t.Fatalf("list the namespace's containers: %v (%q)", err, ids)
	}
	out, err := exec.Command("docker", append([]string{"inspect", "-f", `{{index .Config.Labels "` + docker.LabelRole + `"}} ` + format}, strings.Fields(string(ids))...)...).Output()
	if err != nil {
		t.Fatalf("inspect: %v", err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		role, v, _ := strings.Cut(line, " ")
		m[role] = v
	}
	return m
}

// checkRuntimes checks that the app runs under the engine's runtime and everything else (ours)
// under runc, and that the app's kernel is gVisor's under runsc (kernel is its /proc/version).
func checkRuntimes(t *testing.T, eng *docker.Engine, kernel string) {
	t.Helper()
	for role, rt := range namespaceContainers(t, eng, "{{.HostConfig.Runtime}}") {
		want := "runc"
		if role == "app" || strings.HasPrefix(role, "app-") {
			want = eng.Runtime()
		}
		if rt != want {
			t.Errorf("%s runs under %q, want %q", role, rt, want)
		}
	}
	host, err := os.ReadFile("/proc/version")
	if err != nil {
		t.Fatal(err)
	}
	same := kernel == strings.TrimSpace(string(host))
	if eng.Runtime() == "runsc" && same {
		t.Errorf("the app under runsc sees the host's kernel (%q), not gVisor's", kernel)
	}
	if eng.Runtime() == "runc" && !same {
		t.Errorf("the app under runc sees kernel %q, not the host's", kernel)
	}
}

// hostLimits reads the app container's pids and memory limits from the host's cgroup files, by
// its main process (under gVisor: the sandbox's).
func hostLimits(t *testing.T, eng *docker.Engine) (pids, memory string) {
	t.Helper()
	pid := namespaceContainers(t, eng, "{{.State.Pid}}")["app"]
	f, err := os.Open("/proc/" + pid + "/cgroup")
	if err != nil {
		t.Fatalf("the app's cgroups (is the engine on this machine?): %v", err)
	}
	defer f.Close()
	read := func(parts ...string) string {
		b, err := os.ReadFile(filepath.Join(append([]string{"/sys/fs/cgroup"}, parts...)...))
		if err != nil {
			return err.Error()
		}
		return strings.TrimSpace(string(b))
	}
	var unified string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), ":", 3)
		if len(f) != 3 {
			continue
		}
		switch f[1] {
		case "pids":
			pids = read("pids", f[2], "pids.max")
		case "memory":
			memory = read("memory", f[2], "memory.limit_in_bytes")
		case "":
			unified = f[2]
		}
	}
	if pids == "" && memory == "" { // cgroup v2 only
		pids, memory = read(unified, "pids.max"), read(unified, "memory.max")
	}
	return pids, memory
}
