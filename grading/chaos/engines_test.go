package chaos

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/grading/docker"
)

// The first engine is the test's own (DOCKER_HOST, or the local socket), which other packages
// grade on too; the second is deploy/second-engine.sh's, which only this package uses. Each is
// addressed by its DOCKER_HOST; "" is the first.

var hostExport = regexp.MustCompile(`(?m)^export HOLDFAST_SECOND_DOCKER_HOST='([^']+)'$`)

// secondEngine starts the second engine (or finds it up) and returns its DOCKER_HOST. When the
// test ends it is started again if the test stopped or killed it, so that nothing is left down.
func secondEngine(t *testing.T) string {
	t.Helper()
	out, err := engineScript("start")
	m := hostExport.FindStringSubmatch(out)
	if err != nil || m == nil {
		msg := fmt.Sprintf("no second Docker engine (deploy/second-engine.sh start: %v)\n%s", err, out)
		if os.Getenv("HOLDFAST_REQUIRE_DOCKER") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg + "\n(it needs root and the images of deploy/bootstrap.sh; HOLDFAST_REQUIRE_DOCKER=1 fails instead)")
	}
	t.Cleanup(func() {
		if out, err := engineScript("start"); err != nil {
			t.Errorf("start the second engine again at the end: %v\n%s", err, out)
		}
	})
	return m[1]
}

// engineScript runs deploy/second-engine.sh VERB and returns its output, stdout then stderr.
func engineScript(verb string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // a first start copies images
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", repoRoot+"/deploy/second-engine.sh", verb)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String() + stderr.String(), err
}

// mustEngineScript is engineScript that fails the test.
func mustEngineScript(t *testing.T, verb string) {
	t.Helper()
	if out, err := engineScript(verb); err != nil {
		t.Fatalf("deploy/second-engine.sh %s: %v\n%s", verb, err, out)
	}
}

// dockerCmd is the docker CLI pointed at host.
func dockerCmd(ctx context.Context, host string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Env = os.Environ()
	if host != "" {
		cmd.Env = append(cmd.Env, "DOCKER_HOST="+host)
	}
	return cmd
}

// dockerOut runs docker on host (at most a minute) and returns its output.
func dockerOut(host string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := dockerCmd(ctx, host, args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// sandboxes lists the containers, networks and volumes of namespace ns on host; "" if none.
func sandboxes(t *testing.T, host, ns string) string {
	t.Helper()
	f := "label=" + docker.LabelNamespace + "=" + ns
	var all []string
	for _, args := range [][]string{
		{"ps", "-a", "-q", "--filter", f},
		{"network", "ls", "-q", "--filter", f},
		{"volume", "ls", "-q", "--filter", f},
	} {
		out, err := dockerOut(host, args...)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, strings.Fields(out)...)
	}
	return strings.Join(all, " ")
}

// shareImage makes sure the image the grader builds for dir is on both engines: built on the
// first (the test command builds every testdata submission up front, so this is a cache hit),
// then copied to the second. The gradings then fit a short hard cap on either host.
func shareImage(t *testing.T, eng *docker.Engine, host2, dir string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	b, err := eng.Build(ctx, dir)
	if err != nil || b.Failed() {
		t.Fatalf("build %s: %v %s", dir, err, b.Failure)
	}
	if _, err := dockerOut(host2, "image", "inspect", "--format", "{{.Id}}", b.Image); err == nil {
		return
	}
	save := dockerCmd(ctx, "", "save", b.Image)
	load := dockerCmd(ctx, host2, "load", "-q")
	pipe, err := save.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	load.Stdin = pipe
	var saveErr, loadOut bytes.Buffer
	save.Stderr, load.Stdout, load.Stderr = &saveErr, &loadOut, &loadOut
	if err := save.Start(); err != nil {
		t.Fatal(err)
	}
	lerr := load.Run()
	serr := save.Wait()
	if serr != nil || lerr != nil {
		t.Fatalf("copy %s to the second engine: save: %v %s; load: %v %s", b.Image, serr, saveErr.String(), lerr, loadOut.String())
	}
}

// plantStale makes what the janitor takes for a sandbox of namespace ns that a runner killed long
// ago left on host (a network, the cheapest thing a sandbox has), and returns its name.
func plantStale(t *testing.T, host, ns string) string {
	t.Helper()
	name := fmt.Sprintf("hfplant%d", time.Now().UnixNano()%1e9)
	if _, err := dockerOut(host, "network", "create", "--internal", "--label", docker.LabelRun+"="+name,
		"--label", docker.LabelNamespace+"="+ns, "--label", docker.LabelCreated+"=1", name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dockerOut(host, "network", "rm", name) })
	return name
}

// sweepAtEnd removes, when the test ends, whatever sandboxes of namespace ns are left on hosts,
// with the runner's own janitor: a test that failed half-way leaves nothing behind (a passing one
// has checked that nothing was left).
func sweepAtEnd(t *testing.T, bin commands, ns string, hosts ...string) {
	t.Cleanup(func() {
		for _, host := range hosts {
			if host != "" { // the second engine: up again first, if the test ended with it down
				engineScript("start")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			cmd := exec.CommandContext(ctx, bin.runner, "janitor", "--older-than", "0s")
			cmd.Env = append(os.Environ(), "HOLDFAST_NAMESPACE="+ns)
			if host != "" {
				cmd.Env = append(cmd.Env, "DOCKER_HOST="+host)
			}
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Logf("runner janitor on %q: %v\n%s", host, err, out)
			}
			cancel()
		}
	})
}
