package docker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/docker"
	"github.com/holdfast-ci/holdfast/grading/docker/dockertest"
	"github.com/holdfast-ci/holdfast/scenarios"
)

// startedSandbox builds dir on eng, provisions its sandbox and starts the app; the sandbox is
// torn down (and checked for leftovers) when the test ends. The context it returns bounds the
// test at four minutes.
func startedSandbox(t *testing.T, eng *docker.Engine, dir string) (context.Context, grading.Sandbox) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel) // registered first, so it runs after the teardown below
	b, err := eng.Build(ctx, dir)
	if err != nil || b.Failed() {
		t.Fatalf("build %s: %v %s\n%s", dir, err, b.Failure, b.LogTail)
	}
	sb, err := eng.Provision(ctx, b.Image, grading.Limits{})
	if sb != nil {
		t.Cleanup(func() {
			if err := sb.Teardown(context.WithoutCancel(ctx)); err != nil {
				t.Errorf("teardown: %v", err)
			}
			if left := leftovers(t, eng.Namespace()); left != "" {
				t.Errorf("left after teardown: %s", left)
			}
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Start(ctx, scenarios.App); err != nil {
		t.Fatal(err)
	}
	return ctx, sb
}

// TestAppReachesFakesOnlyThroughProxies probes from inside the app's container: the provider and
// downstream fakes' own ports on the agent refuse the app, so it cannot step around the fault
// proxies; the proxied addresses the app is given answer.
func TestAppReachesFakesOnlyThroughProxies(t *testing.T) {
	eng := dockertest.Engine(t)
	ctx, sb := startedSandbox(t, eng, "testdata/hostile")
	h := harness(t, sb)
	direct := []string{"provider:8081", "provider:8082", "downstream:8081", "downstream:8082"}
	proxied := []string{"provider:8080", "downstream:8070"}
	q := url.Values{"dial": append(append([]string{}, direct...), proxied...)}
	r := h.Do(ctx, scenarios.Request{Path: "/probe?" + q.Encode()})
	var got struct {
		Dials map[string]string `json:"dials"`
	}
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Fatalf("probe: %v: %s", err, r.Describe())
	}
	t.Logf("dials from the app: %v", got.Dials)
	for _, a := range direct {
		if !strings.Contains(got.Dials[a], "connection refused") {
			t.Errorf("the fake's own port %s from the app: %q; want connection refused (only the proxy may reach it)", a, got.Dials[a])
		}
	}
	for _, a := range proxied {
		if got.Dials[a] != "ok" {
			t.Errorf("the proxied %s from the app: %q; want it reachable", a, got.Dials[a])
		}
	}
	// A dial to a proxy succeeds even when nothing listens behind it: a charge and a call sent
	// through the proxies must reach the fakes, and the runner reads them back.
	ip := agentIP(t, eng.Namespace())
	charge, err := http.Post(fmt.Sprintf("http://%s:8080/v1/charges", ip), "application/json",
		strings.NewReader(`{"amount":100,"currency":"usd","payment_id":"pay_1"}`))
	if err != nil {
		t.Fatalf("a charge through the provider's proxy: %v", err)
	}
	charge.Body.Close()
	call, err := http.Get(fmt.Sprintf("http://%s:8070/through-the-proxy", ip))
	if err != nil {
		t.Fatalf("a call through the downstream's proxy: %v", err)
	}
	call.Body.Close()
	if charge.StatusCode != http.StatusOK || call.StatusCode != http.StatusOK {
		t.Errorf("through the proxies: the provider answered %d, the downstream %d; want 200 from both", charge.StatusCode, call.StatusCode)
	}
	if l, err := h.Agent.Ledger(ctx); err != nil || len(l.Charges) != 1 {
		t.Errorf("the runner reads the provider's ledger: %+v, %v; want the one charge", l, err)
	}
	if calls, err := h.Agent.Calls(ctx, 0); err != nil || len(calls) != 1 || calls[0].Path != "/through-the-proxy" {
		t.Errorf("the runner reads the downstream's calls: %+v, %v; want the one call", calls, err)
	}
}

// TestHarnessBoundsHostileAnswers: an app that answers the harness with 1 GiB, 8 MiB of
// headers, or a byte a second forever, costs the harness at most its read caps (1 MiB of body,
// 1 MiB of headers) and its deadline.
func TestHarnessBoundsHostileAnswers(t *testing.T) {
	eng := dockertest.Engine(t)
	ctx, sb := startedSandbox(t, eng, "testdata/flood")
	h := harness(t, sb)
	stop := peakSys()
	huge := h.Do(ctx, scenarios.Request{Path: "/huge", Timeout: 20 * time.Second})
	trickle := h.Do(ctx, scenarios.Request{Path: "/trickle", Timeout: 2 * time.Second})
	headers := h.Do(ctx, scenarios.Request{Path: "/headers", Timeout: 10 * time.Second})
	peak := stop()
	t.Logf("8 MiB of headers: %s", headers.Describe())
	if headers.Err == nil || !strings.Contains(headers.Err.Error(), "header") {
		t.Errorf("an answer with 8 MiB of headers: status %d, err %v; want the harness to refuse it", headers.Status, headers.Err)
	}
	t.Logf("1 GiB answer: status %d, %d bytes read in %s, err %v", huge.Status, len(huge.Body), huge.Duration, huge.Err)
	t.Logf("trickle: status %d, %d bytes in %s, err %v; runner peak Sys %d MiB", trickle.Status, len(trickle.Body), trickle.Duration, trickle.Err, peak>>20)
	if huge.Status != 200 || len(huge.Body) != 1<<20 {
		t.Errorf("a 1 GiB answer: status %d with %d bytes kept; want 200 with the first 1 MiB", huge.Status, len(huge.Body))
	}
	if huge.Duration > 10*time.Second {
		t.Errorf("a 1 GiB answer took %s to read; the harness must stop at its cap, not read it all", huge.Duration)
	}
	if trickle.Err == nil || trickle.Duration > 3*time.Second {
		t.Errorf("an answer trickling a byte a second: err %v after %s; want the 2 s deadline to end it", trickle.Err, trickle.Duration)
	}
	if peak > 256<<20 {
		t.Errorf("the runner's memory peaked at %d MiB; want it bounded (< 256 MiB)", peak>>20)
	}
}

// agentIP is an address of the agent in namespace ns, as the engine reports it.
func agentIP(t *testing.T, ns string) string {
	t.Helper()
	id, err := agentContainer(ns)
	if err != nil {
		t.Fatalf("find the agent: %v", err)
	}
	ips, err := exec.Command("docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", id).Output()
	if err != nil || len(strings.Fields(string(ips))) == 0 {
		t.Fatalf("the agent's address: %q, %v", ips, err)
	}
	return strings.Fields(string(ips))[0]
}
