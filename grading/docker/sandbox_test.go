package docker_test

import (
	"context"
	"encoding/json"
	"net"
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

// TestSandboxConfinesHostileApp runs a submission that probes its own sandbox from inside and
// checks each promise of DESIGN.md's security section that can be observed there.
func TestSandboxConfinesHostileApp(t *testing.T) {
	eng := dockertest.Engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	b, err := eng.Build(ctx, "testdata/hostile")
	if err != nil || b.Failed() {
		t.Fatalf("build: %v %s\n%s", err, b.Failure, b.LogTail)
	}
	sb, err := eng.Provision(ctx, b.Image, grading.Limits{})
	if sb != nil {
		defer func() {
			if err := sb.Teardown(context.WithoutCancel(ctx)); err != nil {
				t.Errorf("teardown: %v", err)
			}
			out, _ := exec.Command("docker", "ps", "-a", "-q", "--filter", "label="+docker.LabelNamespace+"="+eng.Namespace()).CombinedOutput()
			if strings.TrimSpace(string(out)) != "" {
				t.Errorf("containers left after teardown: %s", out)
			}
		}()
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Start(ctx, scenarios.App); err != nil {
		t.Fatal(err)
	}
	h := harness(t, sb)
	pg, _ := url.Parse(h.PostgresURL)
	rd, _ := url.Parse(h.RedisURL)
	q := url.Values{"dial": {pg.Host, rd.Host, "postgres:5432"}}
	r := h.Do(ctx, scenarios.Request{Path: "/probe?" + q.Encode()})
	var got struct {
		WriteRoot   string            `json:"write_root"`
		WriteOwned  string            `json:"write_owned"`
		WriteTmp    string            `json:"write_tmp"`
		NoNewPrivs  string            `json:"no_new_privs"`
		Kernel      string            `json:"kernel"`
		Gateway     string            `json:"gateway"`
		Status      map[string]string `json:"status"`
		PidsMax     string            `json:"pids_max"`
		MemoryMax   string            `json:"memory_max"`
		MemswMax    string            `json:"memsw_max"`
		Dials       map[string]string `json:"dials"`
		AgentStatus any               `json:"agent_ledger_status"`
	}
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Fatalf("probe: %v: %s", err, r.Describe())
	}
	t.Logf("probe: %+v", got)
	check := func(ok bool, promise string, actual any) {
		t.Helper()
		if !ok {
			t.Errorf("%s: got %v", promise, actual)
		}
	}
	check(got.WriteRoot != "ok", "/ is not writable", got.WriteRoot)
	check(strings.Contains(got.WriteOwned, "read-only file system"), "the root filesystem is read-only", got.WriteOwned)
	check(got.WriteTmp == "ok", "/tmp is writable", got.WriteTmp)
	check(got.Status["CapEff"] == "0000000000000000" && got.Status["CapBnd"] == "0000000000000000", "every capability dropped", got.Status)
	check(got.NoNewPrivs == "1", "no-new-privileges", got.NoNewPrivs)
	// The limits, as the host's cgroups hold them (under gVisor they bound the sandbox's own
	// threads and memory; its guest has no cgroup files to show them).
	pidsMax, memMax := hostLimits(t, eng)
	check(pidsMax == "256", "at most 256 pids (host cgroup)", pidsMax)
	check(memMax == "536870912", "512 MiB of memory (host cgroup)", memMax)
	checkRuntimes(t, eng, got.Kernel)
	if eng.Runtime() == "runc" {
		check(got.PidsMax == "256", "at most 256 pids", got.PidsMax)
		check(got.MemoryMax == "536870912", "512 MiB of memory", got.MemoryMax)
		check(got.MemswMax == "536870912" || got.MemswMax == "0" || got.MemswMax == "unreadable", "no swap beyond memory", got.MemswMax)
	}
	check(got.Dials[pg.Host] != "ok", "the real Postgres sidecar is out of reach (only the agent's proxy is)", got.Dials[pg.Host])
	check(got.Dials[rd.Host] != "ok", "the real Redis sidecar is out of reach", got.Dials[rd.Host])
	check(got.Dials["postgres:5432"] == "ok", "the proxied postgres:5432 is reachable", got.Dials["postgres:5432"])
	check(got.AgentStatus == float64(401), "the agent's control API refuses the app (no token)", got.AgentStatus)

	// The host's services are out of reach: a listener on all host addresses cannot be dialled
	// from the sandbox through its gateway (the host's address on the run network).
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	hostAddr := net.JoinHostPort(got.Gateway, port)
	r = h.Do(ctx, scenarios.Request{Path: "/probe?" + url.Values{"dial": {hostAddr}}.Encode()})
	if err := json.Unmarshal(r.Body, &got); err != nil || got.Gateway == "" || got.Dials[hostAddr] == "ok" {
		t.Errorf("a host service listening on all addresses is reachable from the sandbox at %s: %s", hostAddr, r.Describe())
	}

	// Observations reach the real sidecars, and a sidecar survives a kill and restart with its data.
	pgc, err := h.Postgres(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pgc.Exec(ctx, "CREATE TABLE marker (v int); INSERT INTO marker VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	pgc.Close(ctx)
	rdb, err := h.Redis()
	if err != nil {
		t.Fatal(err)
	}
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("redis sidecar: %v", err)
	}
	rdb.Close()
	if err := sb.Kill(ctx, scenarios.Postgres, "SIGKILL"); err != nil {
		t.Fatal(err)
	}
	if err := h.Target.Start(ctx, scenarios.Postgres); err != nil { // as a scenario does: h observes its new address
		t.Fatalf("restart postgres sidecar: %v", err)
	}
	pgc, err = h.Postgres(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var v int
	if err := pgc.QueryRow(ctx, "SELECT v FROM marker").Scan(&v); err != nil || v != 42 {
		t.Fatalf("after the postgres restart: %d, %v; want the row written before it", v, err)
	}
	pgc.Close(ctx)

	// Faults the harness injects are transparent to the app: a downed link refuses it.
	if err := h.Agent.Fault(ctx, "postgres", agentDown); err != nil {
		t.Fatal(err)
	}
	r = h.Do(ctx, scenarios.Request{Path: "/probe?" + url.Values{"dial": {"postgres:5432"}}.Encode()})
	if err := json.Unmarshal(r.Body, &got); err != nil || got.Dials["postgres:5432"] == "ok" {
		t.Fatalf("with the postgres link down the app could still connect: %s", r.Describe())
	}
}

var agentDown = agentFault("down")

// TestSandboxRunsReplicasAndPauses runs two replicas of one image side by side: each gets its
// own address and INSTANCE_ID, requests reach the one asked for, the downstream fake is reachable
// from both, and a paused replica stops answering (while the other goes on) until unpaused.
func TestSandboxRunsReplicasAndPauses(t *testing.T) {
	eng := dockertest.Engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	b, err := eng.Build(ctx, "testdata/hostile")
	if err != nil || b.Failed() {
		t.Fatalf("build: %v %s\n%s", err, b.Failure, b.LogTail)
	}
	sb, err := eng.Provision(ctx, b.Image, grading.Limits{Replicas: 2})
	if sb != nil {
		defer sb.Teardown(context.WithoutCancel(ctx))
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, svc := range []scenarios.Service{scenarios.App, scenarios.Replica(2)} {
		if err := sb.Start(ctx, svc); err != nil {
			t.Fatalf("start %s: %v", svc, err)
		}
	}
	if err := sb.Start(ctx, scenarios.Replica(3)); err == nil {
		t.Fatal("start a third replica of two: want an error")
	}
	urls := sb.AppURLs()
	if len(urls) != 2 || urls[0] == urls[1] || urls[0] != sb.AppURL() {
		t.Fatalf("replica URLs %v", urls)
	}
	h := harness(t, sb)
	probe := func(replica int, timeout time.Duration) (string, scenarios.Response) {
		r := h.Do(ctx, scenarios.Request{Path: "/probe?dial=downstream:8070", Replica: replica, Timeout: timeout})
		var got struct {
			Instance string            `json:"instance"`
			Dials    map[string]string `json:"dials"`
		}
		_ = json.Unmarshal(r.Body, &got)
		if r.Err == nil && got.Dials["downstream:8070"] != "ok" {
			t.Errorf("replica %d cannot reach the downstream: %v", replica, got.Dials)
		}
		return got.Instance, r
	}
	for i, want := range []string{"app-1/2", "app-2/2"} {
		if got, r := probe(i+1, 5*time.Second); got != want {
			t.Fatalf("replica %d: instance %q, want %q (%s)", i+1, got, want, r.Describe())
		}
	}

	if err := sb.Pause(ctx, scenarios.Replica(2)); err != nil {
		t.Fatal(err)
	}
	if _, r := probe(2, 500*time.Millisecond); !r.TimedOut() {
		t.Fatalf("paused replica answered: %s", r.Describe())
	}
	if got, r := probe(1, 5*time.Second); got != "app-1/2" {
		t.Fatalf("the other replica while one is paused: %s", r.Describe())
	}
	for range 2 { // unpausing twice is fine
		if err := sb.Unpause(ctx, scenarios.Replica(2)); err != nil {
			t.Fatal(err)
		}
	}
	if got, r := probe(2, 5*time.Second); got != "app-2/2" {
		t.Fatalf("after unpause: %s", r.Describe())
	}
	// Wait sees a replica's exit and its code; the other replica goes on.
	if err := sb.Kill(ctx, scenarios.Replica(2), "SIGKILL"); err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	code, err := sb.Wait(wctx, scenarios.Replica(2))
	wcancel()
	if err != nil || code != 137 {
		t.Fatalf("wait after SIGKILL: code %d, %v; want 137", code, err)
	}
	if err := sb.Start(ctx, scenarios.Replica(2)); err != nil {
		t.Fatal(err)
	}
	// A paused replica is torn down with the rest (deferred Teardown; the janitor test checks
	// nothing is left).
	if err := sb.Pause(ctx, scenarios.Replica(2)); err != nil {
		t.Fatal(err)
	}
}
