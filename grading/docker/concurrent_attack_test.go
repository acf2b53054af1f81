package docker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/docker"
	"github.com/holdfast-ci/holdfast/grading/docker/dockertest"
	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/idempotentpayments"
	"github.com/holdfast-ci/holdfast/scenarios/scenariotest"
)

// TestConcurrentGradingsCannotReachEachOther grades two submissions at once on one engine, as a
// runner with RUNNER_CONCURRENCY 2 does: B, the idempotent-payments reference, and A
// (testdata/attack), which attacks B for as long as B's scenarios run with everything the test
// knows of B — every address and port of B's app, agent (its proxies and control API),
// Postgres and Redis; their names and the agent's aliases through Docker's DNS; a scan of B's
// subnets; B's processes by their host pids (SIGKILL, then kill -1); B's files on the host
// (Postgres's data, /proc/<pid>/environ); the Docker and containerd sockets — while it floods
// what the gradings share (16 MiB of logs, up to 5 000 queries in 10 s to dockerd's DNS, a
// full /tmp, its whole CPU share for 20 s).
//
// Each probe is shown to work where it is allowed to: the same binary, run by the test as a
// container on B's networks with the host's pid namespace, the Docker socket and B's
// Postgres layer, reaches, reads and signals (0) every one of the targets; and A's own scan
// reaches its own agent. From A, none succeeds; B passes with 100 and its sandbox is intact at
// the end (no container of it killed or restarted); A gets a verdict of its own (failed: it does
// not take payments); the engine answers; nothing of either grading is left; and the runner's
// memory stays bounded.
func TestConcurrentGradingsCannotReachEachOther(t *testing.T) {
	eng := dockertest.Engine(t)
	ns := eng.Namespace()
	cli, err := client.New(client.FromEnv)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	// A's image is built first: the control below runs it on B's networks while A is still
	// being provisioned.
	built, err := eng.Build(ctx, "testdata/attack")
	if err != nil || built.Failed() {
		t.Fatalf("build testdata/attack: %v %s\n%s", err, built.Failure, built.LogTail)
	}
	keeper := dockertest.Keeper(t, eng, docker.ImagePolicy{})
	repo := "test/" + ns

	d := &duel{plans: make(chan attackPlan, 1), first: make(chan attackReport, 1), stop: make(chan struct{}),
		stopped: make(chan struct{}), aDone: make(chan struct{})}
	var (
		bView, aView runView
		control      attackReport
		firstRound   attackReport
		final        attackReport
		images       sync.Map // "a", "b" → the image of that grading's app
		gateTimes    string
		bIntact      error = errors.New("B's sandbox was never checked")
	)
	// B: its first app start publishes what A attacks, once the control has shown that every
	// target answers, and waits until A's first round is done; its teardown stops A first, so
	// that the attack ends before B's addresses are freed for another grading.
	bEngine := gatedEngine{Engine: eng, wrap: func(sb grading.Sandbox) grading.Sandbox {
		return &gatedSandbox{Sandbox: sb,
			onStart: func(ctx context.Context) error {
				v, err := viewOfApp(ctx, cli, ns, sb.AppURL())
				if err != nil {
					return err
				}
				bView = v
				images.Store("b", v.image())
				plan := planAgainst(v)
				cctx, cancel := context.WithTimeout(ctx, 90*time.Second)
				defer cancel()
				t0 := time.Now()
				control, err = runControl(cctx, cli, built.Image, ns, v, plan)
				if err != nil {
					return fmt.Errorf("control probe on B's networks: %w", err)
				}
				t1 := time.Now()
				d.plans <- plan
				select {
				case firstRound = <-d.first:
					gateTimes = fmt.Sprintf("control %s, then A's first round by %s", t1.Sub(t0).Round(time.Millisecond), time.Since(t1).Round(time.Millisecond))
					return nil
				case <-d.aDone:
					return errors.New("A's grading ended before its attack began")
				case <-cctx.Done():
					return fmt.Errorf("waiting for A's first round: %w", cctx.Err())
				}
			},
			onTeardown: func() {
				// While A still attacks: every container of B is as its harness left it (none
				// killed, restarted or removed by anyone else) and its agent answers.
				ictx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				bIntact = sb.Intact(ictx)
				cancel()
				d.stopOnce.Do(func() { close(d.stop) })
				select {
				case <-d.stopped:
				case <-d.aDone:
				case <-time.After(90 * time.Second):
				}
			}}
	}}
	attack := scenarios.Scenario{Slug: "attack", Title: "attacks the other grading", Weight: 50, Visibility: scenarios.Public,
		Timeout: 3 * time.Minute, Run: func(ctx context.Context, h *scenarios.Harness) error {
			defer d.stoppedOnce.Do(func() { close(d.stopped) })
			var plan attackPlan
			select {
			case plan = <-d.plans:
			case <-d.stop:
				return errors.New("B's grading ended before it published its addresses")
			case <-ctx.Done():
				return ctx.Err()
			}
			v, err := viewOfApp(ctx, cli, ns, h.Target.AppURL())
			if err != nil {
				return err
			}
			aView = v
			images.Store("a", v.image())
			for _, p := range v.subnets {
				plan.Subnets = append(plan.Subnets, p.String()) // A's own: the scan must find its own agent
			}
			plan.Kill, plan.Flood, plan.MaxSeconds = true, true, 120
			r := h.Do(ctx, scenarios.Request{Method: http.MethodPost, Path: "/attack/start", Body: scenarios.JSON(plan), Timeout: time.Minute})
			var first attackReport
			if err := json.Unmarshal(r.Body, &first); err != nil || r.Status != http.StatusOK {
				return &scenarios.Failure{Expected: "the attack to start", Actual: r.Describe()}
			}
			d.first <- first
			select {
			case <-d.stop:
			case <-ctx.Done():
				return ctx.Err()
			}
			r = h.Do(ctx, scenarios.Request{Method: http.MethodPost, Path: "/attack/stop", Timeout: time.Minute})
			if err := json.Unmarshal(r.Body, &final); err != nil || r.Status != http.StatusOK {
				return &scenarios.Failure{Expected: "the attack's report", Actual: r.Describe()}
			}
			return nil
		}}
	var basic scenarios.Scenario
	for _, s := range idempotentpayments.Scenarios() {
		if s.Slug == "basic_request_handling" {
			basic = s
		}
	}
	if basic.Run == nil {
		t.Fatal("idempotent-payments has no basic_request_handling scenario")
	}
	chA := grading.Challenge{Slug: "attack", Scenarios: []scenarios.Scenario{attack, basic}}
	chB := scenariotest.Challenge(t, idempotentpayments.Slug, idempotentpayments.Scenarios())

	stopMem := peakSys()
	start := time.Now()
	var wg sync.WaitGroup
	var vA, vB grading.Verdict
	var errA, errB error
	var tookB time.Duration
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer close(d.aDone)
		sctx, done := keeper.Serve(ctx, repo, "a", "attack")
		defer done()
		vA, errA = (&grading.Grader{Engine: eng, HardCap: 4 * time.Minute}).Grade(sctx, chA, "testdata/attack", nil)
	}()
	go func() {
		defer wg.Done()
		sctx, done := keeper.Serve(ctx, repo, "b", "reference")
		defer done()
		vB, errB = (&grading.Grader{Engine: bEngine, HardCap: 4 * time.Minute}).Grade(sctx, chB,
			"../../scenarios/idempotentpayments/testdata/reference", nil)
		tookB = time.Since(start)
	}()
	wg.Wait()
	took := time.Since(start)
	peak := stopMem()
	t.Logf("both gradings in %s (B's in %s; B's scenarios waited for the %s); runner peak Sys %d MiB",
		took.Round(time.Millisecond), tookB.Round(time.Millisecond), gateTimes, peak>>20)
	t.Logf("B: %s %d (%s) %v", vB.Status, vB.Score, outcomesOf(vB), errB)
	t.Logf("A: %s %d (%s) %v: %s", vA.Status, vA.Score, outcomesOf(vA), errA, vA.Message)

	// B is unchanged by the attack; A's verdict is its own.
	if errB != nil || vB.Status != grading.Passed || vB.Score != 100 {
		t.Errorf("B, the reference, under attack: %s %d (%s), %v; want passed 100", vB.Status, vB.Score, outcomesOf(vB), errB)
	}
	if bIntact != nil {
		t.Errorf("B's sandbox at the end of its grading, under attack: %v", bIntact)
	}
	if errA != nil || vA.Status != grading.Failed || outcomesOf(vA) != "attack=passed basic_request_handling=failed" {
		t.Errorf("A, the attacker: %s (%s), %v; want failed with only basic_request_handling failed (a verdict of its own)", vA.Status, outcomesOf(vA), errA)
	}
	if bView.run == "" || aView.run == "" {
		t.Fatalf("the attack never ran (B's run %q, A's %q)", bView.run, aView.run)
	}
	if peak > 256<<20 {
		t.Errorf("the runner's memory peaked at %d MiB; want it bounded (< 256 MiB)", peak>>20)
	}
	pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
	if err := eng.Ping(pctx); err != nil {
		t.Errorf("the engine after the flood: %v", err)
	}
	pcancel()
	checkContained(t, bView, aView, control, firstRound, final)
	deadline, _ := ctx.Deadline()
	checkNothingLeft(t, cli, ns, repo, []runView{aView, bView}, &images, deadline.Add(time.Minute).Unix())
}

// duel is how the two gradings' goroutines hand each other the attack.
type duel struct {
	plans       chan attackPlan   // B → A: what to attack, once B's app is up
	first       chan attackReport // A → B: the first round is done
	stop        chan struct{}     // B's teardown → A: stop attacking
	stopped     chan struct{}     // A: the attack is over
	aDone       chan struct{}     // A's grading returned
	stopOnce    sync.Once
	stoppedOnce sync.Once
}

// gatedEngine provisions sandboxes of the real engine, wrapped.
type gatedEngine struct {
	*docker.Engine
	wrap func(grading.Sandbox) grading.Sandbox
}

func (e gatedEngine) Provision(ctx context.Context, image string, limits grading.Limits) (grading.Sandbox, error) {
	sb, err := e.Engine.Provision(ctx, image, limits)
	if sb == nil {
		return nil, err
	}
	return e.wrap(sb), err
}

// gatedSandbox runs onStart after the grader's first start of the app and onTeardown before
// the teardown; the scenarios' own restarts go to the real sandbox (the harness's Target).
type gatedSandbox struct {
	grading.Sandbox
	onStart    func(context.Context) error
	onTeardown func()
	started    sync.Once
	tornDown   sync.Once
}

func (s *gatedSandbox) Start(ctx context.Context, svc scenarios.Service) error {
	if err := s.Sandbox.Start(ctx, svc); err != nil {
		return err
	}
	var err error
	s.started.Do(func() { err = s.onStart(ctx) })
	return err
}

func (s *gatedSandbox) Teardown(ctx context.Context) error {
	s.tornDown.Do(s.onTeardown)
	return s.Sandbox.Teardown(ctx)
}

// OOMKilled and AgentDeath pass on what the grader asks the real sandbox.
func (s *gatedSandbox) OOMKilled(ctx context.Context) []scenarios.Service {
	return s.Sandbox.(interface {
		OOMKilled(context.Context) []scenarios.Service
	}).OOMKilled(ctx)
}

func (s *gatedSandbox) AgentDeath(ctx context.Context) (grading.AgentDeath, bool) {
	return s.Sandbox.(interface {
		AgentDeath(context.Context) (grading.AgentDeath, bool)
	}).AgentDeath(ctx)
}

// attackPlan and attackReport are testdata/attack's Plan and Report.
type attackPlan struct {
	Addrs      []string `json:"addrs"`
	Names      []string `json:"names"`
	Subnets    []string `json:"subnets"`
	ScanHosts  int      `json:"scan_hosts"`
	ScanPorts  []int    `json:"scan_ports"`
	Pids       []int    `json:"pids"`
	Kill       bool     `json:"kill"`
	Files      []string `json:"files"`
	Sockets    []string `json:"sockets"`
	Flood      bool     `json:"flood"`
	MaxSeconds int      `json:"max_seconds"`
}

type attackReport struct {
	Rounds   int                 `json:"rounds"`
	Dials    int                 `json:"dials"`
	Reached  map[string]int      `json:"reached"`
	Refused  map[string]string   `json:"refused"`
	ScanHits map[string]int      `json:"scan_hits"`
	Resolved map[string][]string `json:"resolved"`
	Files    map[string]string   `json:"files"`
	Sockets  map[string]string   `json:"sockets"`
	Signals  map[string]string   `json:"signals"`
	KillAll  string              `json:"kill_all"`
	Procs    []string            `json:"procs"`
	Own      []string            `json:"own_subnets"`
	Flood    *struct {
		LogBytes    int64   `json:"log_bytes"`
		DNSQueries  int64   `json:"dns_queries"`
		DNSErrors   int64   `json:"dns_errors"`
		TmpBytes    int64   `json:"tmp_bytes"`
		TmpErr      string  `json:"tmp_err"`
		SpinSeconds float64 `json:"spin_seconds"`
	} `json:"flood"`
}

// runView is what the engine says of one grading's sandbox: all an attacker could wish to know.
type runView struct {
	run     string
	subnets map[string]netip.Prefix // network name → subnet
	ctrs    []ctrView
}

type ctrView struct {
	id, name, role, image string
	pid                   int
	ips                   map[string]netip.Addr // network name → address
	env                   []string
	upper                 string // the container's writable layer on the host
	volumes               []string
}

func (v runView) image() string {
	for _, c := range v.ctrs {
		if c.role == string(scenarios.App) {
			return c.image
		}
	}
	return ""
}

// secrets are values of v's environment that no other grading may learn: the database password
// and the agent's token.
func (v runView) secrets() []string {
	var out []string
	for _, c := range v.ctrs {
		for _, e := range c.env {
			if k, val, _ := strings.Cut(e, "="); (k == "POSTGRES_PASSWORD" || k == "HOLDFAST_AGENT_TOKEN") && val != "" {
				out = append(out, val)
			}
		}
	}
	return out
}

// rolePorts are the ports each container of a sandbox listens on.
var rolePorts = map[string][]int{
	string(scenarios.App):      {3000},
	"agent":                    {9090, 5432, 6379, 8080, 8070}, // control API, then the proxies
	string(scenarios.Postgres): {5432},
	string(scenarios.Redis):    {6379},
}

// viewOfApp finds the run whose app answers at appURL in namespace ns and describes it.
func viewOfApp(ctx context.Context, cli *client.Client, ns, appURL string) (runView, error) {
	host := strings.TrimPrefix(appURL, "http://")
	host, _, _ = strings.Cut(host, ":")
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return runView{}, fmt.Errorf("app URL %q: %w", appURL, err)
	}
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{Filters: make(client.Filters).Add("label", docker.LabelNamespace+"="+ns)})
	if err != nil {
		return runView{}, err
	}
	for _, c := range cs.Items {
		if c.NetworkSettings == nil {
			continue
		}
		for _, ep := range c.NetworkSettings.Networks {
			if ep != nil && ep.IPAddress == ip {
				return viewRun(ctx, cli, c.Labels[docker.LabelRun])
			}
		}
	}
	return runView{}, fmt.Errorf("no container of namespace %s has address %s", ns, ip)
}

func viewRun(ctx context.Context, cli *client.Client, run string) (runView, error) {
	v := runView{run: run, subnets: map[string]netip.Prefix{}}
	f := make(client.Filters).Add("label", docker.LabelRun+"="+run)
	nets, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return v, err
	}
	for _, n := range nets.Items {
		for _, c := range n.IPAM.Config {
			if c.Subnet.Addr().Is4() {
				v.subnets[n.Name] = c.Subnet
			}
		}
	}
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return v, err
	}
	for _, c := range cs.Items {
		res, err := cli.ContainerInspect(ctx, c.ID, client.ContainerInspectOptions{})
		if err != nil {
			return v, err
		}
		in := res.Container
		cv := ctrView{id: in.ID, name: strings.TrimPrefix(in.Name, "/"), role: c.Labels[docker.LabelRole], ips: map[string]netip.Addr{}}
		if in.Config != nil {
			cv.image, cv.env = in.Config.Image, in.Config.Env
		}
		if in.State != nil {
			cv.pid = in.State.Pid
		}
		if in.GraphDriver != nil {
			cv.upper = in.GraphDriver.Data["UpperDir"]
		}
		for _, m := range in.Mounts {
			if m.Type == "volume" {
				cv.volumes = append(cv.volumes, m.Name)
			}
		}
		if in.NetworkSettings != nil {
			for name, ep := range in.NetworkSettings.Networks {
				if ep != nil && ep.IPAddress.IsValid() {
					cv.ips[name] = ep.IPAddress
				}
			}
		}
		v.ctrs = append(v.ctrs, cv)
	}
	slices.SortFunc(v.ctrs, func(a, b ctrView) int { return strings.Compare(a.role, b.role) })
	if len(v.ctrs) < 4 || len(v.subnets) < 2 {
		return v, fmt.Errorf("run %s: %d containers, %d networks; want app, agent, postgres, redis on two networks", run, len(v.ctrs), len(v.subnets))
	}
	return v, nil
}

// dockerSocket is the engine's socket on this host (and, bound in, in the control).
const dockerSocket = "/var/run/docker.sock"

// planAgainst is everything of v that another grading could try.
func planAgainst(v runView) attackPlan {
	p := attackPlan{ScanHosts: 16, ScanPorts: []int{3000, 5432, 6379, 8070, 8080, 9090},
		Names:   []string{"postgres:5432", "redis:6379", "provider:8080", "downstream:8070"},
		Sockets: []string{dockerSocket, "/run/docker.sock", "/run/containerd/containerd.sock"}}
	for _, c := range v.ctrs {
		ports := rolePorts[c.role]
		for _, ip := range c.ips {
			for _, port := range ports {
				p.Addrs = append(p.Addrs, net.JoinHostPort(ip.String(), strconv.Itoa(port)))
			}
		}
		if len(ports) > 0 {
			p.Names = append(p.Names, c.name+":"+strconv.Itoa(ports[0]))
		}
		if c.pid > 0 {
			p.Pids = append(p.Pids, c.pid)
			p.Files = append(p.Files, fmt.Sprintf("/proc/%d/environ", c.pid))
		}
		if c.role == string(scenarios.Postgres) && c.pid > 0 {
			// Written at Postgres's start, so in the container's own layer.
			p.Files = append(p.Files, fmt.Sprintf("/proc/%d/root/var/lib/postgresql/data/postmaster.pid", c.pid))
			if c.upper != "" {
				p.Files = append(p.Files, c.upper+"/var/lib/postgresql/data/postmaster.pid")
			}
		}
	}
	for _, s := range v.subnets {
		p.Subnets = append(p.Subnets, s.String())
	}
	slices.Sort(p.Addrs)
	slices.Sort(p.Subnets)
	return p
}

// runControl runs the attack's probe once, as a container of the test's on v's networks, in the
// host's pid namespace, with the Docker socket and v's Postgres layer bound in: where every
// probe of plan may succeed. It only signals 0.
func runControl(ctx context.Context, cli *client.Client, image, ns string, v runView, plan attackPlan) (attackReport, error) {
	plan.Kill, plan.Flood = false, false
	js, _ := json.Marshal(plan)
	binds := []string{dockerSocket + ":" + dockerSocket + ":ro"}
	var nets []string
	for _, c := range v.ctrs {
		if c.role == string(scenarios.Postgres) && c.upper != "" {
			binds = append(binds, c.upper+":"+c.upper+":ro")
		}
	}
	for name := range v.subnets {
		nets = append(nets, name)
	}
	slices.Sort(nets)
	res, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config: &container.Config{Image: image, Cmd: []string{"probe"}, User: "0", Env: []string{"ATTACK_PLAN=" + string(js)},
			Labels: map[string]string{docker.LabelNamespace: ns, docker.LabelRole: "attack-control"}},
		HostConfig: &container.HostConfig{PidMode: "host", CapAdd: []string{"SYS_PTRACE"}, Binds: binds,
			LogConfig: container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "4m"}}},
		NetworkingConfig: &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{nets[0]: {}}},
	})
	if err != nil {
		return attackReport{}, fmt.Errorf("create the control: %w", err)
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		cli.ContainerRemove(rctx, res.ID, client.ContainerRemoveOptions{Force: true})
	}()
	for _, n := range nets[1:] {
		if _, err := cli.NetworkConnect(ctx, n, client.NetworkConnectOptions{Container: res.ID}); err != nil {
			return attackReport{}, fmt.Errorf("connect the control to %s: %w", n, err)
		}
	}
	if _, err := cli.ContainerStart(ctx, res.ID, client.ContainerStartOptions{}); err != nil {
		return attackReport{}, fmt.Errorf("start the control: %w", err)
	}
	w := cli.ContainerWait(ctx, res.ID, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	select {
	case r := <-w.Result:
		if r.StatusCode != 0 {
			return attackReport{}, fmt.Errorf("the control exited with %d", r.StatusCode)
		}
	case err := <-w.Error:
		return attackReport{}, fmt.Errorf("wait for the control: %w", err)
	}
	logs, err := cli.ContainerLogs(ctx, res.ID, client.ContainerLogsOptions{ShowStdout: true})
	if err != nil {
		return attackReport{}, err
	}
	defer logs.Close()
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &out, logs); err != nil {
		return attackReport{}, err
	}
	var r attackReport
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		return attackReport{}, fmt.Errorf("the control's report: %w: %.500s", err, out.String())
	}
	return r, nil
}

// checkContained holds A's reports to nothing of B, and the control's to everything of it.
func checkContained(t *testing.T, b, a runView, control, first, final attackReport) {
	t.Helper()
	plan := planAgainst(b)
	js, _ := json.Marshal(final)
	t.Logf("A: %d rounds, %d connections tried, reached %v, scan hits %v, resolved %v, signals %v, kill -1: %s, processes %v, flood %+v",
		final.Rounds, final.Dials, final.Reached, final.ScanHits, final.Resolved, final.Signals, final.KillAll, final.Procs, final.Flood)
	reached := 0
	for _, addr := range plan.Addrs {
		if control.Reached[addr] > 0 {
			reached++
		}
	}
	t.Logf("control: reached %d of B's %d addresses, %d scan hits, resolved %v, signals %v, sockets %v", reached, len(plan.Addrs), len(control.ScanHits), control.Resolved, control.Signals, control.Sockets)

	// The control shows each probe can succeed.
	for _, addr := range plan.Addrs {
		if control.Reached[addr] == 0 {
			t.Errorf("control: %s of B not reached from B's own networks (%s): the attack on it would prove nothing", addr, control.Refused[addr])
		}
		if control.ScanHits[addr] == 0 {
			t.Errorf("control: the scan of B's subnets missed %s", addr)
		}
	}
	for _, c := range b.ctrs {
		ips := control.Resolved[c.name]
		found := false
		for _, ip := range c.ips {
			found = found || slices.Contains(ips, ip.String())
		}
		if !found {
			t.Errorf("control: %s resolved to %v; want one of %v", c.name, ips, c.ips)
		}
	}
	for _, f := range plan.Files {
		if strings.HasPrefix(control.Files[f], "error:") {
			t.Errorf("control: could not read B's %s: %s", f, control.Files[f])
		}
	}
	for _, s := range b.secrets() {
		if cjs, _ := json.Marshal(control); !bytes.Contains(cjs, []byte(s)) {
			t.Errorf("control: B's secret %.6s… not found in what it read: the files probe would prove nothing", s)
		}
	}
	for _, pid := range plan.Pids {
		if got := control.Signals[strconv.Itoa(pid)]; got != "ok" {
			t.Errorf("control: signal 0 to B's pid %d: %s", pid, got)
		}
	}
	if control.Sockets[dockerSocket] != "ok" {
		t.Errorf("control: the Docker socket: %s", control.Sockets[dockerSocket])
	}

	// A reached nothing of B, in any round.
	if first.Rounds < 1 || final.Rounds < 2 {
		t.Errorf("A attacked for %d round(s) (%d before B's scenarios); want the attack to go on while B ran", final.Rounds, first.Rounds)
	}
	bIPs := map[string]bool{}
	for _, c := range b.ctrs {
		for _, ip := range c.ips {
			bIPs[ip.String()] = true
		}
	}
	inOwn := func(hostport string) bool {
		h, _, _ := net.SplitHostPort(hostport)
		ip, err := netip.ParseAddr(h)
		if err != nil {
			return false
		}
		for _, p := range a.subnets {
			if p.Contains(ip) {
				return true
			}
		}
		return false
	}
	for _, r := range []attackReport{first, final} {
		for addr, n := range r.Reached {
			_, at, _ := strings.Cut(addr, "@") // name:port@ip for a resolved name
			if at == "" {
				at, _, _ = net.SplitHostPort(addr)
			}
			if bIPs[at] || !inOwn(net.JoinHostPort(at, "0")) {
				t.Errorf("A reached %s (%d times): a connection outside its own sandbox", addr, n)
			}
		}
		for addr, n := range r.ScanHits {
			if !inOwn(addr) {
				t.Errorf("A's scan reached %s (%d times), outside its own sandbox", addr, n)
			}
		}
	}
	ownHits := 0
	for addr := range final.ScanHits {
		if inOwn(addr) {
			ownHits++
		}
	}
	if ownHits == 0 {
		t.Errorf("A's scan reached nothing, not even its own agent: the scan from inside a sandbox would prove nothing")
	}
	for name, ips := range final.Resolved {
		for _, ip := range ips {
			if bIPs[ip] {
				t.Errorf("A resolved %s to B's %s", name, ip)
			}
		}
	}
	for _, c := range b.ctrs {
		got := final.Resolved[c.name]
		if len(got) == 0 {
			t.Errorf("A never looked %s up", c.name)
		}
		for _, ip := range got {
			if !strings.HasPrefix(ip, "error:") {
				t.Errorf("A resolved B's %s to %s; want no answer", c.name, ip)
			}
		}
	}
	for f, got := range final.Files {
		if !strings.HasPrefix(got, "error:") {
			t.Errorf("A read B's %s: %.80q", f, got)
		}
	}
	for s, got := range final.Sockets {
		if got == "ok" {
			t.Errorf("A connected to %s", s)
		}
	}
	for pid, got := range final.Signals {
		if got == "ok" {
			t.Errorf("A's SIGKILL reached pid %s of B's", pid)
		}
	}
	for _, p := range final.Procs {
		if _, cmd, _ := strings.Cut(p, " "); !strings.HasPrefix(cmd, "/app") {
			t.Errorf("A sees a process not its own: %s", p)
		}
	}
	for _, s := range b.secrets() {
		if bytes.Contains(js, []byte(s)) {
			t.Errorf("A's report holds B's secret %.6s…", s)
		}
	}
	// The flood ran: its figures are in the log above (16 MiB of logs and a full /tmp, unless the
	// attack was stopped first).
	if f := final.Flood; f == nil || f.LogBytes < 1<<20 || f.DNSQueries == 0 || f.TmpBytes < 32<<20 {
		t.Errorf("A's flood did not run: %+v", f)
	}
}

// checkNothingLeft: no container or network of the namespace, no volume of either grading, no
// hold of theirs on their images, and at most one learner image per branch of the test's
// repository. Their holds are the ones that expire at ownExpiry (Keeper.Serve: the gradings'
// deadline plus a minute): B's image is the payments reference, which other packages' tests
// grade at the same time, and a runner those tests kill mid-grading leaves its hold on the same
// image until the sweep finds it expired — by design, and not these gradings' leftover.
func checkNothingLeft(t *testing.T, cli *client.Client, ns, repo string, views []runView, images *sync.Map, ownExpiry int64) {
	t.Helper()
	ctx := context.Background()
	if left := leftovers(t, ns); left != "" {
		t.Errorf("left after both gradings: %s", left)
	}
	for _, v := range views {
		for _, c := range v.ctrs {
			for _, vol := range c.volumes {
				if _, err := cli.VolumeInspect(ctx, vol, client.VolumeInspectOptions{}); !cerrdefs.IsNotFound(err) {
					t.Errorf("volume %s of %s is left (%v)", vol, c.name, err)
				}
			}
		}
	}
	images.Range(func(k, v any) bool {
		img, err := cli.ImageInspect(ctx, v.(string))
		if err != nil {
			t.Errorf("%s's image %s: %v; want it kept, as the newest of its branch", k, v, err)
			return true
		}
		for _, tag := range img.RepoTags {
			rest, ok := strings.CutPrefix(tag, "holdfast-inuse:")
			if !ok {
				continue
			}
			expiry, _, _ := strings.Cut(rest, "-")
			if expiry == strconv.FormatInt(ownExpiry, 10) {
				t.Errorf("%s's image %s is still held (%s) after its grading", k, v, tag)
			} else {
				t.Logf("%s's image %s: another grading's hold %s (these gradings' expire at %d)", k, v, tag, ownExpiry)
			}
		}
		return true
	})
	l, err := cli.ImageList(ctx, client.ImageListOptions{Filters: make(client.Filters).Add("label", docker.LabelRepo+"="+repo)})
	if err != nil {
		t.Fatal(err)
	}
	perBranch := map[string]int{}
	for _, img := range l.Items {
		perBranch[img.Labels[docker.LabelBranch]]++
	}
	for b, n := range perBranch {
		if n > 1 {
			t.Errorf("branch %s of %s keeps %d images; want the newest only", b, repo, n)
		}
	}
}
