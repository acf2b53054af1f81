package docker

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/redis/go-redis/v9"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/agent"
)

// Labels on everything a sandbox creates.
const (
	LabelRun     = "holdfast.run"     // the run id
	LabelCreated = "holdfast.created" // unix seconds, for the janitor
	LabelRole    = "holdfast.role"    // app, postgres, redis, agent
	// LabelNamespace holds the engine's Config.Namespace; the Janitor sweeps only its own.
	LabelNamespace = "holdfast.namespace"
	// LabelPoolIdle is on a pooled sandbox: the seconds it may wait in its Pool before a
	// grading takes it. The Janitor counts a run's age from holdfast.created plus this.
	LabelPoolIdle = "holdfast.pool.idle"
)

const (
	appPort        = 3000
	downstreamPort = 8070 // DOWNSTREAM_URL's port on the agent
	roleAgent      = "agent"
	dbName         = "app"
	dbUser         = "holdfast"
	readyTimeout   = 30 * time.Second
)

// sandbox is one grading run's containers and networks.
type sandbox struct {
	e        *Engine
	id       string
	created  string
	token    string
	password string
	limits   grading.Limits
	appNet   string
	backNet  string
	// idle is how long a pooled sandbox may wait for a grading (LabelPoolIdle); 0 outside a Pool.
	idle time.Duration
	// began is when provisioning (or a Pool's hand-over) began; phases are how long each of
	// its steps took (Phases).
	began  time.Time
	phases []Phase

	mu      sync.Mutex
	ids     map[string]string // role → container id
	appURLs []string          // per replica; "" until it started
	// agentURL is the agent's control API, pgURL and redisURL the sidecars at their current
	// addresses: with appURLs, what Endpoints reports.
	agentURL, pgURL, redisURL string
	// started is each container's State.StartedAt after the harness last started it, and
	// stopped the containers the harness signalled since: what Intact compares the engine's
	// view with.
	started map[string]string
	stopped map[string]bool

	agent *agent.Client // the sandbox's own client, to tell whether the agent is alive
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Provision creates the run's networks, starts the sidecars and the agent, waits until they are
// ready, and creates the app container from image.
func (e *Engine) Provision(ctx context.Context, image string, limits grading.Limits) (grading.Sandbox, error) {
	s := e.newSandbox(limits, 0)
	if err := s.provision(ctx, image); err != nil {
		return s, err
	}
	return s, nil
}

// newSandbox names a sandbox and draws its secrets; idle > 0 makes it a pooled one.
func (e *Engine) newSandbox(limits grading.Limits, idle time.Duration) *sandbox {
	s := &sandbox{e: e, id: randHex(5), created: fmt.Sprint(time.Now().Unix()), token: randHex(16),
		password: randHex(12), idle: idle, ids: map[string]string{},
		started: map[string]string{}, stopped: map[string]bool{}}
	s.setLimits(limits)
	s.appNet, s.backNet = "hf-"+s.id+"-app", "hf-"+s.id+"-back"
	return s
}

func (s *sandbox) setLimits(limits grading.Limits) {
	s.limits = limits.WithDefaults()
	s.appURLs = make([]string, s.limits.Replicas)
}

func (s *sandbox) labels(role string) map[string]string {
	l := map[string]string{LabelRun: s.id, LabelCreated: s.created, LabelNamespace: s.e.cfg.Namespace}
	if s.idle > 0 {
		l[LabelPoolIdle] = fmt.Sprint(int64(s.idle / time.Second))
	}
	if role != "" {
		l[LabelRole] = role
	}
	return l
}

func (s *sandbox) name(role string) string { return "hf-" + s.id + "-" + role }

// creating returns a context for one call that creates something. It is not cancelled with ctx:
// a create the daemon completes after its client gave up would escape Teardown, which lists what
// exists when it runs. Callers check ctx between calls instead.
func creating(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
}

// provision creates the run's networks and infrastructure (sidecars, agent), starts it and
// waits until it serves. With an image it also creates the app's containers, while the
// infrastructure starts; a Pool provisions without one, and createApps runs when a grading
// takes the sandbox. Independent creates run side by side: on a 2-core engine they overlap
// the daemon's work with the round trips.
func (s *sandbox) provision(ctx context.Context, image string) error {
	cli := s.e.cli
	s.began = time.Now()
	t := time.Now()
	nets := []string{s.appNet, s.backNet}
	if err := parallel(len(nets), func(i int) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		cctx, cancel := creating(ctx)
		defer cancel()
		bridge := bridgePrefix + s.id + string(rune('a'+i))
		if _, err := cli.NetworkCreate(cctx, nets[i], client.NetworkCreateOptions{Driver: "bridge", Internal: true, Labels: s.labels(""),
			Options: map[string]string{"com.docker.network.bridge.name": bridge}}); err != nil {
			return startError("", fmt.Errorf("create network %s: %w", nets[i], err))
		}
		return nil
	}); err != nil {
		return err
	}
	s.mark("networks (2, side by side)", t)
	sidecarLimits := container.Resources{Memory: 512 << 20, MemorySwap: 512 << 20, NanoCPUs: 1e9}
	// The agent has a limit of its own: the learner's traffic is what makes it grow (AgentDeath).
	agentMem := s.e.cfg.AgentMemoryMB << 20
	agentLimits := container.Resources{Memory: agentMem, MemorySwap: agentMem, NanoCPUs: 1e9}
	specs := []struct {
		role string
		cfg  container.Config
		net  string
		host container.HostConfig
	}{
		{string(scenarios.Postgres), container.Config{Image: s.e.cfg.PostgresImage,
			Env: []string{"POSTGRES_USER=" + dbUser, "POSTGRES_PASSWORD=" + s.password, "POSTGRES_DB=" + dbName},
			// fsync and full_page_writes only matter when the machine crashes, which a sandbox
			// never survives anyway. synchronous_commit stays on: with it off, killing the
			// sidecar loses committed transactions, and a correct app would fail "nothing lost".
			Cmd: []string{"postgres", "-c", "fsync=off", "-c", "full_page_writes=off", "-c", "max_connections=200"},
		}, s.backNet, container.HostConfig{Resources: sidecarLimits, LogConfig: containerLogs, ShmSize: 128 << 20}},
		{string(scenarios.Redis), container.Config{Image: s.e.cfg.RedisImage,
			Cmd: []string{"redis-server", "--save", "", "--appendonly", "no", "--protected-mode", "no"},
		}, s.backNet, container.HostConfig{Resources: sidecarLimits, LogConfig: containerLogs}},
		{roleAgent, container.Config{Image: s.e.cfg.AgentImage, Env: []string{
			"HOLDFAST_AGENT_TOKEN=" + s.token,
			fmt.Sprintf("HOLDFAST_AGENT_LINKS=postgres=:5432>%s:5432,redis=:6379>%s:6379,provider=:8080>127.0.0.1:%d,downstream=:%d>127.0.0.1:%d",
				s.name(string(scenarios.Postgres)), s.name(string(scenarios.Redis)), agent.ProviderPort, downstreamPort, agent.DownstreamPort),
		}}, s.appNet, container.HostConfig{Resources: agentLimits, LogConfig: containerLogs, ReadonlyRootfs: true,
			CapDrop: []string{"ALL"}, SecurityOpt: []string{"no-new-privileges"}}},
	}
	t = time.Now()
	if err := parallel(len(specs), func(i int) error {
		sp := specs[i]
		var aliases []string
		if sp.role == roleAgent {
			aliases = []string{"postgres", "redis", "provider", "downstream"}
		}
		cfg := sp.cfg
		cfg.Labels = s.labels(sp.role)
		host := sp.host
		if err := s.create(ctx, sp.role, &cfg, &host, sp.net, aliases); err != nil {
			return err
		}
		if sp.role != roleAgent {
			return nil
		}
		id, err := s.containerID(roleAgent)
		if err != nil {
			return err
		}
		cctx, cancel := creating(ctx)
		defer cancel()
		if _, err := cli.NetworkConnect(cctx, s.backNet, client.NetworkConnectOptions{Container: id}); err != nil {
			return startError(roleAgent, fmt.Errorf("connect agent to %s: %w", s.backNet, err))
		}
		return nil
	}); err != nil {
		return err
	}
	s.mark("containers (3 side by side; agent joins the back network)", t)

	roles := []string{string(scenarios.Postgres), string(scenarios.Redis), roleAgent}
	errs := make([]error, len(roles)+1)
	var wg sync.WaitGroup
	for i, role := range roles {
		wg.Go(func() {
			t := time.Now()
			errs[i] = s.startAndWait(ctx, role)
			s.mark("start + ready: "+role, t)
		})
	}
	if image != "" {
		wg.Go(func() { errs[len(roles)] = s.createApps(ctx, image) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	t = time.Now()
	agentIP, err := s.ip(ctx, roleAgent, s.appNet)
	if err != nil {
		return err
	}
	agentURL := fmt.Sprintf("http://%s:%d", agentIP, agent.ControlPort)
	s.mu.Lock()
	s.agentURL = agentURL
	s.mu.Unlock()
	s.agent = agent.NewClient(agentURL, s.token)
	for _, svc := range []scenarios.Service{scenarios.Postgres, scenarios.Redis} {
		if err := s.locateSidecar(ctx, svc); err != nil {
			return err
		}
	}
	s.mark("addresses", t)
	return nil
}

// containerLogs caps every sandbox container's log.
var containerLogs = container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "1m", "max-file": "1"}}

// createApps creates, but does not start, the app's containers from image. Start is where a
// learner's failure shows. They alone run under Config.Runtime (gVisor by default): they are
// the only containers running the learner's code. The sidecars and the agent are ours and stay
// on the engine's default.
func (s *sandbox) createApps(ctx context.Context, image string) error {
	t := time.Now()
	pids := s.limits.Pids
	appHost := container.HostConfig{
		Runtime: s.e.cfg.Runtime,
		Resources: container.Resources{NanoCPUs: int64(s.limits.CPUs * 1e9), Memory: s.limits.MemoryMB << 20,
			MemorySwap: s.limits.MemoryMB << 20, PidsLimit: &pids},
		ReadonlyRootfs: true,
		Tmpfs:          map[string]string{"/tmp": "rw,nosuid,nodev,size=64m,mode=1777" + tmpfsOwner(ctx, s.e.cli, image)},
		CapDrop:        []string{"ALL"},
		SecurityOpt:    []string{"no-new-privileges"},
		LogConfig:      containerLogs,
	}
	err := parallel(s.limits.Replicas, func(i int) error {
		role := string(scenarios.Replica(i + 1))
		appCfg := container.Config{Image: image, Labels: s.labels(role), Env: []string{
			fmt.Sprintf("PORT=%d", appPort),
			fmt.Sprintf("DATABASE_URL=postgres://%s:%s@postgres:5432/%s?sslmode=disable", dbUser, s.password, dbName),
			"REDIS_URL=redis://redis:6379/0",
			"PROVIDER_URL=http://provider:8080",
			fmt.Sprintf("DOWNSTREAM_URL=http://downstream:%d", downstreamPort),
			fmt.Sprintf("INSTANCE_ID=app-%d", i+1),
			fmt.Sprintf("REPLICAS=%d", s.limits.Replicas),
		}}
		host := appHost
		return s.create(ctx, role, &appCfg, &host, s.appNet, nil)
	})
	s.mark(fmt.Sprintf("app containers (%d)", s.limits.Replicas), t)
	return err
}

func (s *sandbox) postgresURL(ip string) string {
	return fmt.Sprintf("postgres://%s:%s@%s:5432/%s?sslmode=disable&connect_timeout=2", dbUser, s.password, ip, dbName)
}

func redisURL(ip string) string { return "redis://" + ip + ":6379/0" }

func (s *sandbox) create(ctx context.Context, role string, cfg *container.Config, host *container.HostConfig, net string, aliases []string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	cctx, cancel := creating(ctx)
	defer cancel()
	res, err := s.e.cli.ContainerCreate(cctx, client.ContainerCreateOptions{
		Name: s.name(role), Config: cfg, HostConfig: host,
		NetworkingConfig: &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{net: {Aliases: aliases}}},
	})
	if err != nil {
		return startError(scenarios.Service(role), fmt.Errorf("create %s container from %s: %w", role, cfg.Image, err))
	}
	s.mu.Lock()
	s.ids[role] = res.ID
	s.mu.Unlock()
	return nil
}

func (s *sandbox) containerID(role string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.ids[role]
	if !ok {
		return "", fmt.Errorf("sandbox %s has no %s container", s.id, role)
	}
	return id, nil
}

func (s *sandbox) ip(ctx context.Context, role, net string) (string, error) {
	id, err := s.containerID(role)
	if err != nil {
		return "", err
	}
	res, err := s.e.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return "", fmt.Errorf("inspect %s: %w", role, err)
	}
	if ns := res.Container.NetworkSettings; ns != nil {
		if ep := ns.Networks[net]; ep != nil && ep.IPAddress.IsValid() {
			return ep.IPAddress.String(), nil
		}
	}
	return "", fmt.Errorf("%s has no address on %s", role, net)
}

// startAndWait starts an infrastructure container and waits until it serves.
func (s *sandbox) startAndWait(ctx context.Context, role string) error {
	id, err := s.containerID(role)
	if err != nil {
		return err
	}
	if err := s.startNoted(ctx, role, id); err != nil {
		return startError(scenarios.Service(role), fmt.Errorf("start %s: %w", role, err))
	}
	net := s.backNet
	if role == roleAgent {
		net = s.appNet
	}
	ip, err := s.ip(ctx, role, net)
	if err != nil {
		return err
	}
	var probe func(ctx context.Context) error
	switch role {
	case string(scenarios.Postgres):
		probe = func(ctx context.Context) error {
			conn, err := pgx.Connect(ctx, s.postgresURL(ip))
			if err != nil {
				return err
			}
			defer conn.Close(ctx)
			return conn.Ping(ctx)
		}
	case string(scenarios.Redis):
		probe = func(ctx context.Context) error {
			rdb := redis.NewClient(&redis.Options{Addr: ip + ":6379", DialTimeout: time.Second, MaxRetries: -1})
			defer rdb.Close()
			return rdb.Ping(ctx).Err()
		}
	case roleAgent:
		probe = agent.NewClient(fmt.Sprintf("http://%s:%d", ip, agent.ControlPort), s.token).Healthy
	}
	wctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	var last error
	for {
		pctx, pcancel := context.WithTimeout(wctx, 2*time.Second)
		last = probe(pctx)
		pcancel()
		if last == nil {
			return nil
		}
		select {
		case <-wctx.Done():
			if err := ctx.Err(); err != nil {
				return err
			}
			logs, _ := s.Logs(context.WithoutCancel(ctx), scenarios.Service(role), time.Time{}, 20)
			return &grading.StartError{Service: scenarios.Service(role), Kind: grading.StartNeverHealthy, Timeout: readyTimeout,
				Err: fmt.Errorf("%s not ready within %s: %v; last output:\n%s", role, readyTimeout, last, logs)}
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// locateSidecar records a started sidecar's address, which may have changed since it last ran.
func (s *sandbox) locateSidecar(ctx context.Context, svc scenarios.Service) error {
	ip, err := s.ip(ctx, string(svc), s.backNet)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch svc {
	case scenarios.Postgres:
		s.pgURL = s.postgresURL(ip)
	case scenarios.Redis:
		s.redisURL = redisURL(ip)
	}
	return nil
}

// Endpoints reports where the app's replicas, the agent and the sidecars answer now.
func (s *sandbox) Endpoints() grading.Endpoints {
	s.mu.Lock()
	defer s.mu.Unlock()
	return grading.Endpoints{Agent: s.agentURL, AgentToken: s.token,
		Postgres: s.pgURL, Redis: s.redisURL}
}

// AppURL is the first replica's base URL at its current address.
func (s *sandbox) AppURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.appURLs[0]
}

// AppURLs are every replica's base URLs, "" for one not started yet.
func (s *sandbox) AppURLs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.appURLs)
}

// replicaIndex is svc's 0-based index among the app's replicas.
func (s *sandbox) replicaIndex(svc scenarios.Service) (int, error) {
	for i := range s.limits.Replicas {
		if scenarios.Replica(i+1) == svc {
			return i, nil
		}
	}
	return 0, fmt.Errorf("sandbox %s runs %d replica(s) of the app; there is no %s", s.id, s.limits.Replicas, svc)
}

// Pause freezes a service's processes.
func (s *sandbox) Pause(ctx context.Context, svc scenarios.Service) error {
	id, err := s.containerID(string(svc))
	if err != nil {
		return err
	}
	if _, err := s.e.cli.ContainerPause(ctx, id, client.ContainerPauseOptions{}); err != nil {
		return fmt.Errorf("pause %s: %w", svc, err)
	}
	return nil
}

// Unpause thaws a paused service; one that is not paused (or not running) is left as it is.
func (s *sandbox) Unpause(ctx context.Context, svc scenarios.Service) error {
	id, err := s.containerID(string(svc))
	if err != nil {
		return err
	}
	if _, err := s.e.cli.ContainerUnpause(ctx, id, client.ContainerUnpauseOptions{}); err != nil {
		if isNotPaused(err) {
			return nil
		}
		return fmt.Errorf("unpause %s: %w", svc, err)
	}
	return nil
}

// Kill signals a service. Killing one that is not running is not an error; after SIGKILL it waits
// until the process is gone.
func (s *sandbox) Kill(ctx context.Context, svc scenarios.Service, signal string) error {
	id, err := s.containerID(string(svc))
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.stopped[string(svc)] = true // it may exit now: that is the harness's doing
	s.mu.Unlock()
	if _, err := s.e.cli.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: signal}); err != nil {
		if isNotRunning(err) {
			return nil
		}
		return fmt.Errorf("kill %s with %s: %w", svc, signal, err)
	}
	if signal != "SIGKILL" && signal != "KILL" {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	w := s.e.cli.ContainerWait(wctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	select {
	case <-w.Result:
		return nil
	case err := <-w.Error:
		return fmt.Errorf("wait for %s to stop: %w", svc, err)
	}
}

// Wait blocks until the service's process has exited and returns its exit code.
func (s *sandbox) Wait(ctx context.Context, svc scenarios.Service) (int, error) {
	id, err := s.containerID(string(svc))
	if err != nil {
		return 0, err
	}
	w := s.e.cli.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	select {
	case res := <-w.Result:
		return int(res.StatusCode), nil
	case err := <-w.Error:
		return 0, fmt.Errorf("wait for %s: %w", svc, err)
	}
}

// Start starts a service. For an app replica it waits until GET /healthz answers 200; an app
// that exits or never answers is a *grading.StartError of the kind that says which, worded for
// the learner by grading.
func (s *sandbox) Start(ctx context.Context, svc scenarios.Service) error {
	if !scenarios.IsApp(svc) {
		if err := s.startAndWait(ctx, string(svc)); err != nil {
			return err
		}
		return s.locateSidecar(ctx, svc)
	}
	replica, err := s.replicaIndex(svc)
	if err != nil {
		return err
	}
	id, err := s.containerID(string(svc))
	if err != nil {
		return err
	}
	started := time.Now()
	if err := s.startNoted(ctx, string(svc), id); err != nil {
		return startError(svc, fmt.Errorf("start app: %w", err))
	}
	deadline := started.Add(s.limits.StartTimeout)
	// No keep-alive: an idle probe connection would hold up a graceful shutdown the scenarios judge.
	httpc := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	// The last probe's answer (status) or transport error; both zero until the app has an
	// address.
	var lastStatus int
	var lastErr error
	for {
		// State first: an app that exited at once never got an address.
		state, err := s.e.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
		if err != nil {
			return fmt.Errorf("inspect app: %w", err)
		}
		c := state.Container
		if st := c.State; st != nil && !st.Running {
			e := &grading.StartError{Service: svc, Kind: grading.StartExited, ExitCode: st.ExitCode, After: time.Since(started)}
			if st.OOMKilled {
				e.Kind, e.MemoryMB = grading.StartOOMKilled, s.limits.MemoryMB
			}
			return e
		}
		if c.NetworkSettings != nil {
			if ep := c.NetworkSettings.Networks[s.appNet]; ep != nil && ep.IPAddress.IsValid() {
				url := fmt.Sprintf("http://%s:%d", ep.IPAddress, appPort)
				s.mu.Lock()
				s.appURLs[replica] = url
				s.mu.Unlock()
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/healthz", nil)
				resp, err := httpc.Do(req)
				lastStatus, lastErr = 0, err
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						return nil
					}
					lastStatus = resp.StatusCode
				}
			}
		}
		if time.Now().After(deadline) {
			return &grading.StartError{Service: svc, Kind: grading.StartNeverHealthy, Timeout: s.limits.StartTimeout,
				Port: appPort, LastStatus: lastStatus, LastErr: lastErr}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Logs returns the last lines of a service's output, stdout and stderr interleaved.
func (s *sandbox) Logs(ctx context.Context, svc scenarios.Service, since time.Time, lines int) (string, error) {
	id, err := s.containerID(string(svc))
	if err != nil {
		return "", err
	}
	opts := client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Tail: fmt.Sprint(lines)}
	if !since.IsZero() {
		opts.Since = fmt.Sprintf("%d.%09d", since.Unix(), since.Nanosecond())
	}
	rc, err := s.e.cli.ContainerLogs(ctx, id, opts)
	if err != nil {
		return "", fmt.Errorf("logs of %s: %w", svc, err)
	}
	defer rc.Close()
	var out bytes.Buffer
	w := &capped{w: &out, left: 256 << 10}
	if _, err := stdcopy.StdCopy(w, w, rc); err != nil && !errors.Is(err, errCapped) {
		return out.String(), fmt.Errorf("read logs of %s: %w", svc, err)
	}
	return out.String(), nil
}

var errCapped = errors.New("log cap reached")

type capped struct {
	w    *bytes.Buffer
	left int
}

func (c *capped) Write(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errCapped
	}
	if len(p) > c.left {
		p = p[:c.left]
	}
	c.left -= len(p)
	return c.w.Write(p)
}

// Teardown removes every container (with its anonymous volumes) and network of the run. It
// finds them by label, so it also cleans up after a Provision that failed half-way.
func (s *sandbox) Teardown(ctx context.Context) error {
	return s.e.removeRun(ctx, s.id)
}

// tmpfsOwner gives /tmp's tmpfs to the image's numeric user: Docker 20.10 applies mode=1777
// only when it first mounts it, so an app started again by the harness (a restart scenario),
// whose image has no /tmp of its own (FROM scratch), found it root's and not writable. A named
// user needs no option here: such images have /tmp, which keeps its mode.
func tmpfsOwner(ctx context.Context, cli *client.Client, image string) string {
	res, err := cli.ImageInspect(ctx, image)
	if err != nil || res.Config == nil {
		return ""
	}
	uid, gid, _ := strings.Cut(res.Config.User, ":")
	if _, err := strconv.ParseUint(uid, 10, 32); err != nil {
		return ""
	}
	if _, err := strconv.ParseUint(gid, 10, 32); err != nil {
		gid = uid
	}
	return ",uid=" + uid + ",gid=" + gid
}
