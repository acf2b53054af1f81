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

// TestJanitorRemovesOnlyStaleRuns leaves two "crashed runner" sandboxes behind, one old and one
// fresh, and checks the janitor removes exactly the old one.
func TestJanitorRemovesOnlyStaleRuns(t *testing.T) {
	eng := dockertest.Engine(t)
	ctx := context.Background()
	stale, fresh := fmt.Sprintf("jtest-stale-%d", time.Now().UnixNano()), fmt.Sprintf("jtest-fresh-%d", time.Now().UnixNano())
	for run, created := range map[string]int64{stale: time.Now().Add(-time.Hour).Unix(), fresh: time.Now().Unix()} {
		labels := []string{"--label", docker.LabelRun + "=" + run, "--label", fmt.Sprintf("%s=%d", docker.LabelCreated, created)}
		dockerCLI(t, append([]string{"network", "create", "--internal"}, append(labels, run)...)...)
		dockerCLI(t, append(append([]string{"create", "--network", run}, labels...), "holdfast/redis:7")...)
	}
	t.Cleanup(func() {
		for _, run := range []string{stale, fresh} {
			exec.Command("sh", "-c", "docker rm -f $(docker ps -aq --filter label=holdfast.run="+run+") ; docker network rm "+run).Run()
		}
	})
	runs, err := eng.Janitor(ctx, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(runs, stale) || slices.Contains(runs, fresh) {
		t.Fatalf("janitor cleaned %v; want %s and not %s", runs, stale, fresh)
	}
	if left := runResources(t, stale); left != "" {
		t.Fatalf("stale run left: %s", left)
	}
	if runResources(t, fresh) == "" {
		t.Fatal("the fresh run was removed; it may still be grading")
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
	before := dockerCLI(t, "network", "ls", "-q", "--filter", "label="+docker.LabelRun)
	g := &grading.Grader{Engine: eng}
	_, err := g.Grade(ctx, grading.Challenge{Slug: "t", Scenarios: []scenarios.Scenario{block}}, "testdata/hostile", func(e grading.Event) {
		if e.Stage == "provision" && e.Done {
			run = "seen"
		}
	})
	if err == nil || run == "" {
		t.Fatalf("Grade after cancellation: err %v (provisioned: %v); want the context's error after provisioning", err, run != "")
	}
	if after := dockerCLI(t, "network", "ls", "-q", "--filter", "label="+docker.LabelRun); after != before {
		t.Fatalf("networks before %q, after %q: the cancelled grading left its sandbox", before, after)
	}
	if left := dockerCLI(t, "ps", "-a", "-q", "--filter", "label="+docker.LabelRun); left != "" {
		t.Fatalf("containers left: %s", left)
	}
}
