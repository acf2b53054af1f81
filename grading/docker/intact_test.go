package docker_test

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/docker"
	"github.com/holdfast-ci/holdfast/grading/docker/dockertest"
	"github.com/holdfast-ci/holdfast/scenarios"
)

// TestIntactTellsTheHarnessFromOthers: what the harness does to a sandbox (killing and starting
// the app or a sidecar) keeps it intact; a sidecar restarted or the agent stopped by anyone
// else — what a Docker engine restart does to every container — does not.
func TestIntactTellsTheHarnessFromOthers(t *testing.T) {
	eng := dockertest.Engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	b, err := eng.Build(ctx, "testdata/hostile")
	if err != nil || b.Failed() {
		t.Fatalf("build: %v %s", err, b.Failure)
	}
	sb, err := eng.Provision(ctx, b.Image, grading.Limits{})
	if sb != nil {
		defer sb.Teardown(context.WithoutCancel(ctx))
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Start(ctx, scenarios.App); err != nil {
		t.Fatal(err)
	}
	if err := sb.Intact(ctx); err != nil {
		t.Fatalf("a fresh sandbox: %v", err)
	}
	// The harness's own disruptions.
	for _, svc := range []scenarios.Service{scenarios.App, scenarios.Postgres} {
		if err := sb.Kill(ctx, svc, "SIGKILL"); err != nil {
			t.Fatal(err)
		}
		if err := sb.Intact(ctx); err != nil {
			t.Fatalf("after the harness killed %s: %v", svc, err)
		}
	}
	if err := sb.Start(ctx, scenarios.Postgres); err != nil {
		t.Fatal(err)
	}
	// The app started again by the harness (a restart scenario) still has a writable /tmp: it
	// runs as uid 65534, and a tmpfs made again without mode= belongs to root.
	if err := sb.Start(ctx, scenarios.App); err != nil {
		t.Fatal(err)
	}
	if r := harness(t, sb).Do(ctx, scenarios.Request{Path: "/probe"}); !strings.Contains(string(r.Body), `"write_tmp":"ok"`) {
		t.Fatalf("/tmp after the app's restart: %d %s", r.Status, r.Body)
	}
	if err := sb.Intact(ctx); err != nil {
		t.Fatalf("after the harness restarted postgres: %v", err)
	}
	// A start whose caller stops waiting while the engine is still at it (a scenario that ends
	// on a loaded machine): the engine finishes it, and it is still the harness's.
	if err := sb.Kill(ctx, scenarios.App, "SIGKILL"); err != nil {
		t.Fatal(err)
	}
	if _, err := sb.Wait(ctx, scenarios.App); err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithTimeout(ctx, 20*time.Millisecond)
	startErr := sb.Start(sctx, scenarios.App)
	scancel()
	if startErr == nil {
		t.Log("the start finished within 20ms: this run did not cancel it midway")
	}
	if err := waitRunning(ctx, eng.Namespace(), "app"); err != nil {
		t.Fatalf("after a start whose caller gave up (%v): %v", startErr, err)
	}
	if err := sb.Intact(ctx); err != nil {
		t.Fatalf("after a start whose caller gave up (%v): %v", startErr, err)
	}
	// Someone else's.
	name := func(role string) string {
		out, err := exec.Command("docker", "ps", "-aq", "--filter", "label="+docker.LabelNamespace+"="+eng.Namespace(),
			"--filter", "label="+docker.LabelRole+"="+role).Output()
		if err != nil || strings.TrimSpace(string(out)) == "" {
			t.Fatalf("find the %s container: %v", role, err)
		}
		return strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("docker", "restart", "-t", "1", name("redis")).CombinedOutput(); err != nil {
		t.Fatalf("docker restart: %v %s", err, out)
	}
	if err := sb.Intact(ctx); err == nil || !strings.Contains(err.Error(), "redis container was started again by someone else") {
		t.Fatalf("after redis was restarted from outside: %v", err)
	}
	if out, err := exec.Command("docker", "stop", "-t", "1", name("agent")).CombinedOutput(); err != nil {
		t.Fatalf("docker stop: %v %s", err, out)
	}
	if err := sb.Intact(ctx); err == nil || !strings.Contains(err.Error(), "agent container stopped") {
		t.Fatalf("after the agent was stopped from outside: %v", err)
	}
}

// waitRunning waits up to 30s for the namespace's container of role to run.
func waitRunning(ctx context.Context, namespace, role string) error {
	var out []byte
	for range 300 {
		var err error
		out, err = exec.CommandContext(ctx, "docker", "ps", "-q", "--filter", "label="+docker.LabelNamespace+"="+namespace,
			"--filter", "label="+docker.LabelRole+"="+role, "--filter", "status=running").Output()
		if err == nil && strings.TrimSpace(string(out)) != "" {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("the %s container is not running after 30s", role)
}

// TestOOMDuringAScenarioIsSaid: an app killed for its memory mid-scenario is reported as such,
// not as the "EOF" the scenario saw.
func TestOOMDuringAScenarioIsSaid(t *testing.T) {
	eng := dockertest.Engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	b, err := eng.Build(ctx, "testdata/hostile")
	if err != nil || b.Failed() {
		t.Fatalf("build: %v %s", err, b.Failure)
	}
	sb, err := eng.Provision(ctx, b.Image, grading.Limits{MemoryMB: 64})
	if sb != nil {
		defer sb.Teardown(context.WithoutCancel(ctx))
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Start(ctx, scenarios.App); err != nil {
		t.Fatal(err)
	}
	oom := sb.(interface {
		OOMKilled(context.Context) []scenarios.Service
	})
	if got := oom.OOMKilled(ctx); len(got) != 0 {
		t.Fatalf("OOM-killed before anything: %v", got)
	}
	r := harness(t, sb).Do(ctx, scenarios.Request{Path: "/eat"})
	if r.Status == 200 {
		t.Fatalf("the app allocated past its limit and answered: %s", r.Body)
	}
	// The client may see the connection drop before the engine has the kernel's news: a
	// grading asks after the scenario ended, which takes longer than this.
	var got []scenarios.Service
	for i := 0; i < 50 && len(got) == 0; i++ {
		time.Sleep(100 * time.Millisecond)
		got = oom.OOMKilled(ctx)
	}
	if len(got) != 1 || got[0] != scenarios.App {
		t.Fatalf("after /eat: OOM-killed %v (answer %d %q); want the app", got, r.Status, r.Err)
	}
	if err := sb.Intact(ctx); err != nil {
		t.Fatalf("an app killed for its own memory leaves the sandbox intact: %v", err)
	}
	if err := sb.Start(ctx, scenarios.App); err != nil {
		t.Fatal(err)
	}
	if got := oom.OOMKilled(ctx); len(got) != 0 {
		t.Fatalf("after a fresh start: OOM-killed %v", got)
	}
}
