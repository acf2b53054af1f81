package docker_test

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/docker"
	"github.com/holdfast-ci/holdfast/grading/docker/dockertest"
	"github.com/holdfast-ci/holdfast/scenarios"
)

func dockerCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// runResources lists the containers and networks labelled with one run id.
func runResources(t *testing.T, run string) string {
	t.Helper()
	f := "label=" + docker.LabelRun + "=" + run
	return strings.TrimSpace(dockerCLI(t, "ps", "-a", "-q", "--filter", f) + " " + dockerCLI(t, "network", "ls", "-q", "--filter", f))
}

// TestJanitorRemovesOnlyStaleRuns leaves "crashed runner" sandboxes behind — an old and a fresh
// one in the engine's namespace, an old one in another namespace — and checks the janitor
// removes exactly the old one of its own, and that the every-namespace sweep takes the other.
func TestJanitorRemovesOnlyStaleRuns(t *testing.T) {
	eng := dockertest.Engine(t)
	ctx := context.Background()
	n := time.Now().UnixNano()
	stale, fresh, foreign := fmt.Sprintf("jtest-stale-%d", n), fmt.Sprintf("jtest-fresh-%d", n), fmt.Sprintf("jtest-foreign-%d", n)
	other := dockertest.Namespace()
	for _, r := range []struct {
		run, ns string
		created time.Time
	}{{stale, eng.Namespace(), time.Now().Add(-time.Hour)}, {fresh, eng.Namespace(), time.Now()}, {foreign, other, time.Now().Add(-time.Hour)}} {
		labels := []string{"--label", docker.LabelRun + "=" + r.run, "--label", fmt.Sprintf("%s=%d", docker.LabelCreated, r.created.Unix()),
			"--label", docker.LabelNamespace + "=" + r.ns}
		dockerCLI(t, append([]string{"network", "create", "--internal"}, append(labels, r.run)...)...)
		dockerCLI(t, append(append([]string{"create", "--network", r.run}, labels...), "holdfast/redis:7")...)
	}
	t.Cleanup(func() {
		for _, run := range []string{stale, fresh, foreign} {
			exec.Command("sh", "-c", "docker rm -f $(docker ps -aq --filter label=holdfast.run="+run+") ; docker network rm "+run).Run()
		}
	})
	runs, err := eng.Janitor(ctx, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(runs, stale) || slices.Contains(runs, fresh) || slices.Contains(runs, foreign) {
		t.Fatalf("janitor cleaned %v; want %s and neither %s nor %s (namespace %s)", runs, stale, fresh, foreign, other)
	}
	if left := runResources(t, stale); left != "" {
		t.Fatalf("stale run left: %s", left)
	}
	if runResources(t, fresh) == "" {
		t.Fatal("the fresh run was removed; it may still be grading")
	}
	if runResources(t, foreign) == "" {
		t.Fatal("another namespace's run was removed; it belongs to another installation's janitor")
	}
	runs, err = eng.JanitorEveryNamespace(ctx, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(runs, foreign) || slices.Contains(runs, fresh) {
		t.Fatalf("every-namespace janitor cleaned %v; want %s and not %s", runs, foreign, fresh)
	}
	if left := runResources(t, foreign); left != "" {
		t.Fatalf("the other namespace's stale run left: %s", left)
	}
}

// TestTeardownOnCancellation cancels a grading in the middle of its scenarios — what Ctrl-C or a
// runner shutdown does — and checks the sandbox is gone when Grade returns.
func TestTeardownOnCancellation(t *testing.T) {
	eng := dockertest.Engine(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan struct{})
	block := scenarios.Scenario{Slug: "block", Title: "block", Weight: 1, Visibility: scenarios.Public,
		Run: func(ctx context.Context, h *scenarios.Harness) error {
			close(started)
			<-ctx.Done()
			return ctx.Err()
		}}
	go func() {
		<-started
		cancel()
	}()
	var run string
	mine := "label=" + docker.LabelNamespace + "=" + eng.Namespace() // other packages may grade beside this one
	before := dockerCLI(t, "network", "ls", "-q", "--filter", mine)
	g := &grading.Grader{Engine: eng}
	_, err := g.Grade(ctx, grading.Challenge{Slug: "t", Scenarios: []scenarios.Scenario{block}}, "testdata/hostile", func(e grading.Event) {
		if e.Stage == "provision" && e.Done {
			run = "seen"
		}
	})
	if err == nil || run == "" {
		t.Fatalf("Grade after cancellation: err %v (provisioned: %v); want the context's error after provisioning", err, run != "")
	}
	if after := dockerCLI(t, "network", "ls", "-q", "--filter", mine); after != before {
		t.Fatalf("networks before %q, after %q: the cancelled grading left its sandbox", before, after)
	}
	if left := dockerCLI(t, "ps", "-a", "-q", "--filter", mine); left != "" {
		t.Fatalf("containers left: %s", left)
	}
}
