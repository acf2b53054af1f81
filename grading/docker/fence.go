package docker

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/holdfast-ci/holdfast/grading/docker/egress"
)

// BuildConfig caps learner image builds and chooses their network. Field comments state
// defaults; Config.Defaults fills them in.
type BuildConfig struct {
	// CPUs caps a build step's CPU time, in cores. Default 1.
	CPUs float64
	// MemoryBytes caps a build step's memory (swap included). Default 2 GiB.
	MemoryBytes int64
	// Pids caps the processes and threads of one build (HOLDFAST_BUILD_PIDS). The classic
	// builder has no option for it: each build runs under a cgroup of its own whose pids.max
	// the runner sets, so the runner must run as root on the Docker host, with cgroup v1.
	// Default 256. -1 builds without the cap, for an operator who cannot give the runner the
	// host's cgroups (said in the log at every build).
	Pids int64
	// Network is where build steps run (HOLDFAST_BUILD_NETWORK): "fenced" (default), a
	// network of Holdfast's own with no route anywhere but the egress proxy, which lets
	// through only the Allow hosts; or "open", Docker's default bridge, from which build steps
	// reach the grading host, its loopback services through dockerd, and every private address
	// it can — only for an engine that builds trusted code (said in the log at every build).
	Network string
	// Allow is the host names the egress proxy lets builds reach (HOLDFAST_BUILD_ALLOW,
	// comma-separated; ".example.org" covers its subdomains). Default DefaultBuildAllow.
	Allow []string
	// NoCache builds every step again, reusing neither a tagged submission image nor the
	// builder's layer cache: for tests and measurements of the build path itself.
	NoCache bool
}

// DefaultBuildAllow is what the starters and the challenges' submissions fetch while
// building: Go modules, npm packages, PyPI (PIP_INSTALL=1), Debian's packages.
var DefaultBuildAllow = []string{
	"proxy.golang.org", "sum.golang.org",
	"registry.npmjs.org",
	"pypi.org", "files.pythonhosted.org",
	"deb.debian.org", "security.debian.org",
}

// DefaultBuildPids is BuildConfig.Pids when none is configured.
const DefaultBuildPids = 256

// Build network modes.
const (
	BuildNetworkFenced = "fenced"
	BuildNetworkOpen   = "open"
)

func (c BuildConfig) withDefaults() BuildConfig {
	if c.CPUs == 0 {
		c.CPUs = 1
	}
	if c.MemoryBytes == 0 {
		c.MemoryBytes = 2 << 30
	}
	if c.Pids == 0 {
		c.Pids = DefaultBuildPids
	}
	if c.Network == "" {
		c.Network = BuildNetworkFenced
	}
	if len(c.Allow) == 0 {
		c.Allow = DefaultBuildAllow
	}
	return c
}

func (c BuildConfig) validate() error {
	switch {
	case c.Network != BuildNetworkFenced && c.Network != BuildNetworkOpen:
		return fmt.Errorf("build network %q (HOLDFAST_BUILD_NETWORK): use %q (default) or %q", c.Network, BuildNetworkFenced, BuildNetworkOpen)
	case c.Pids < -1:
		return fmt.Errorf("build pids cap %d (HOLDFAST_BUILD_PIDS): use a positive number, or -1 for none", c.Pids)
	case c.CPUs < 0 || c.MemoryBytes < 0:
		return errors.New("build CPU and memory caps must be positive")
	}
	for _, h := range c.Allow {
		if h == "" || strings.ContainsAny(h, " /:") {
			return fmt.Errorf("build allow-list entry %q (HOLDFAST_BUILD_ALLOW): use host names, comma-separated", h)
		}
	}
	return nil
}

// The fence: each build runs on a network of its own (buildNetwork) with no route anywhere
// but the egress proxy, which lives on an ordinary network, egressNetwork, and is attached to a
// build's network for the build's duration.
const (
	egressNetwork = "holdfast-egress"
	egressPort    = "3128"
	// LabelFence marks the fence, which the janitor leaves alone: the egress network (value
	// "network"), each build's network ("build", swept by sweepBuildNetworks) and the proxy
	// (its config hash).
	LabelFence = "holdfast.fence"
)

// ensureFence makes sure the proxy's network and an egress proxy with this engine's
// allow-list run, and returns the proxy container's name. Idempotent, and safe to call from
// several runners at once: what exists is reused, a create that loses a race is retried as an
// inspect.
func (e *Engine) ensureFence(ctx context.Context, bc BuildConfig) (string, error) {
	img, err := e.cli.ImageInspect(ctx, e.cfg.AgentImage)
	if err != nil {
		return "", fmt.Errorf("inspect agent image %s (the egress proxy runs from it): %w", e.cfg.AgentImage, err)
	}
	deny := hostAddresses()
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s", img.ID, strings.Join(bc.Allow, ","), strings.Join(deny, ","))
	sum := hex.EncodeToString(h.Sum(nil))[:12]
	name := "holdfast-egress-" + sum
	for attempt := 0; ; attempt++ {
		res, err := e.cli.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
		if err == nil && res.Container.State != nil && res.Container.State.Running {
			if ep := res.Container.NetworkSettings.Networks[egressNetwork]; ep != nil && ep.IPAddress.IsValid() {
				return name, nil
			}
		}
		if attempt == 3 {
			return "", fmt.Errorf("egress proxy %s does not run on %s (see `docker logs %s`)", name, egressNetwork, name)
		}
		switch {
		case isNotFound(err):
			e.removeStaleProxies(ctx, name, img.ID)
			err = e.withNetwork(ctx, egressNetwork, client.NetworkCreateOptions{
				Driver: "bridge", Labels: map[string]string{LabelFence: "network"},
			}, func(netID string) error { return e.createProxy(ctx, name, sum, netID, bc, deny) })
			if isConflict(err) {
				err = nil // another runner created it: inspect again
			}
		case err == nil:
			// There but stopped (or not yet connected): start it; the restart policy keeps it up.
			_, err = e.cli.ContainerStart(ctx, name, client.ContainerStartOptions{})
		}
		if err != nil {
			return "", fmt.Errorf("egress proxy %s: %w", name, err)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
		}
	}
}

// buildNetwork creates the network one build runs on: internal, no address on the host side,
// its bridge under guardRule, with bc's egress proxy (ensureFence) attached and nothing else.
// One per build, so that two learners' build steps, running at once, cannot reach each other.
// It returns the network's name, the proxy's URL on it, and release, which detaches the proxy
// and removes the network.
func (e *Engine) buildNetwork(ctx context.Context, bc BuildConfig) (string, string, func(), error) {
	proxy, err := e.ensureFence(ctx, bc)
	if err != nil {
		return "", "", nil, err
	}
	e.sweepBuildNetworks(ctx, proxy)
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	name := "holdfast-build-" + id
	cctx, cancel := creating(ctx)
	defer cancel()
	if _, err := e.cli.NetworkCreate(cctx, name, client.NetworkCreateOptions{
		Driver: "bridge", Internal: true,
		Labels: map[string]string{LabelFence: "build", LabelCreated: strconv.FormatInt(time.Now().Unix(), 10)},
		Options: map[string]string{
			"com.docker.network.bridge.inhibit_ipv4": "true",
			"com.docker.network.bridge.name":         bridgePrefix + id + "b",
		},
	}); err != nil {
		return "", "", nil, fmt.Errorf("create build network: %w", err)
	}
	release := func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		e.cli.NetworkDisconnect(rctx, name, client.NetworkDisconnectOptions{Container: proxy, Force: true})
		if _, err := e.cli.NetworkRemove(rctx, name, client.NetworkRemoveOptions{}); err != nil && !isNotFound(err) {
			e.log.Warn("remove build network", "network", name, "err", err)
		}
	}
	if _, err := e.cli.NetworkConnect(cctx, name, client.NetworkConnectOptions{Container: proxy}); err != nil {
		release()
		return "", "", nil, fmt.Errorf("connect egress proxy to %s: %w", name, err)
	}
	res, err := e.cli.ContainerInspect(cctx, proxy, client.ContainerInspectOptions{})
	if err == nil && res.Container.NetworkSettings != nil {
		if ep := res.Container.NetworkSettings.Networks[name]; ep != nil && ep.IPAddress.IsValid() {
			return name, "http://" + net.JoinHostPort(ep.IPAddress.String(), egressPort), release, nil
		}
	}
	release()
	return "", "", nil, fmt.Errorf("egress proxy %s has no address on %s (%v)", proxy, name, err)
}

// sweepBuildNetworks removes build networks a crashed runner left behind: none lives longer
// than a build, and builds are capped far below an hour.
func (e *Engine) sweepBuildNetworks(ctx context.Context, proxy string) {
	res, err := e.cli.NetworkList(ctx, client.NetworkListOptions{Filters: make(client.Filters).Add("label", LabelFence+"=build")})
	if err != nil {
		return
	}
	cutoff := time.Now().Add(-time.Hour).Unix()
	for _, n := range res.Items {
		if created, err := strconv.ParseInt(n.Labels[LabelCreated], 10, 64); err != nil || created > cutoff {
			continue
		}
		e.cli.NetworkDisconnect(ctx, n.ID, client.NetworkDisconnectOptions{Container: proxy, Force: true})
		e.cli.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{})
	}
}

// networkAttempts bounds how often withNetwork runs its use of a network that was gone by then.
const networkAttempts = 3

// withNetwork runs use with the ID of the network named name (ensureNetwork), and again with
// the network's ID as listed then when it was gone by the time use ran: a runner that listed the
// networks only after a duplicate of it appeared kept the other and removed this one. Once use
// has attached something, the engine refuses to remove the network.
func (e *Engine) withNetwork(ctx context.Context, name string, opts client.NetworkCreateOptions, use func(id string) error) error {
	for attempt := 1; ; attempt++ {
		id, err := e.ensureNetwork(ctx, name, opts)
		if err != nil {
			return err
		}
		err = use(id)
		if err == nil || attempt == networkAttempts {
			return err
		}
		nets, lerr := e.networksNamed(ctx, name)
		if lerr != nil || slices.ContainsFunc(nets, func(n network.Summary) bool { return n.ID == id }) {
			return err // the network is there: use failed for another reason
		}
		e.log.Info("the network was removed as a duplicate before it was used; using the one kept", "network", name, "id", id, "err", err)
	}
}

// ensureNetwork makes sure a network named name exists and returns its ID. Idempotent, and safe
// to call from several runners on one engine at once. An engine older than API 1.44 (Docker
// 20.10, here) does not refuse a second network with a name already taken, so runners that
// start at the same moment each create one: a fresh engine with two test packages grading at
// once made four holdfast-egress networks, and every build after that failed ("network
// holdfast-egress is ambiguous"). So, after creating, it lists the networks of that name, keeps
// the oldest (then the lowest ID) and removes the others. A runner that listed before a
// duplicate appeared may have returned the one removed: withNetwork runs its use again with the
// one kept. One that a runner has attached something to is left (the engine refuses) and harms
// nothing: every runner uses the network by ID.
func (e *Engine) ensureNetwork(ctx context.Context, name string, opts client.NetworkCreateOptions) (string, error) {
	nets, err := e.networksNamed(ctx, name)
	if err != nil {
		return "", err
	}
	if len(nets) == 0 {
		if _, err := e.cli.NetworkCreate(ctx, name, opts); err != nil && !isAlreadyExists(err) {
			return "", fmt.Errorf("create network %s: %w", name, err)
		}
		if nets, err = e.networksNamed(ctx, name); err != nil {
			return "", err
		}
		if len(nets) == 0 {
			return "", fmt.Errorf("create network %s: the engine does not list it after creating it", name)
		}
	}
	for _, n := range nets[1:] {
		if _, err := e.cli.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err == nil {
			e.log.Warn("removed a duplicate network: runners created it at the same moment", "network", name, "id", n.ID, "kept", nets[0].ID)
		}
	}
	return nets[0].ID, nil
}

// networksNamed lists the networks named exactly name, the oldest first (then by ID): the
// engine's name filter matches parts of names too.
func (e *Engine) networksNamed(ctx context.Context, name string) ([]network.Summary, error) {
	res, err := e.cli.NetworkList(ctx, client.NetworkListOptions{Filters: make(client.Filters).Add("name", name)})
	if err != nil {
		return nil, fmt.Errorf("list networks named %s: %w", name, err)
	}
	nets := slices.DeleteFunc(res.Items, func(n network.Summary) bool { return n.Name != name })
	slices.SortFunc(nets, func(a, b network.Summary) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return nets, nil
}

func (e *Engine) createProxy(ctx context.Context, name, sum, netID string, bc BuildConfig, deny []string) error {
	cctx, cancel := creating(ctx)
	defer cancel()
	pids := int64(256)
	_, err := e.cli.ContainerCreate(cctx, client.ContainerCreateOptions{
		Name: name,
		Config: &container.Config{
			Image: e.cfg.AgentImage, Cmd: []string{"egress"},
			Env: []string{
				"HOLDFAST_EGRESS_LISTEN=:" + egressPort,
				"HOLDFAST_EGRESS_ALLOW=" + strings.Join(bc.Allow, ","),
				"HOLDFAST_EGRESS_DENY=" + strings.Join(deny, ","),
			},
			Labels: map[string]string{LabelFence: sum, "holdfast.kind": "egress-proxy"},
		},
		HostConfig: &container.HostConfig{
			RestartPolicy:  container.RestartPolicy{Name: container.RestartPolicyUnlessStopped},
			Resources:      container.Resources{Memory: 256 << 20, MemorySwap: 256 << 20, NanoCPUs: 1e9, PidsLimit: &pids},
			ReadonlyRootfs: true,
			CapDrop:        []string{"ALL"},
			SecurityOpt:    []string{"no-new-privileges"},
			LogConfig:      container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "10m", "max-file": "2"}},
		},
		NetworkingConfig: &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{netID: {}}},
	})
	if err != nil {
		return err
	}
	if _, err = e.cli.ContainerStart(cctx, name, client.ContainerStartOptions{}); err != nil {
		// Not left behind created: its network may be gone (withNetwork tries again, and the
		// name must be free for that), or it would be started as it is by the next ensureFence.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		e.cli.ContainerRemove(rctx, name, client.ContainerRemoveOptions{Force: true})
	}
	return err
}

// hostAddresses are this host's own public addresses, which the proxy refuses too (it refuses
// every non-public one anyway): the runner runs on the Docker host (as guardRule requires), so
// these are the grading host's. Only public ones, so that the list, and with it the proxy's
// name, does not change with every sandbox network that comes and goes.
func hostAddresses() []string {
	addrs, _ := net.InterfaceAddrs()
	var out []string
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(ipn.IP); ok && egress.IsPublic(ip) {
				out = append(out, ip.Unmap().String())
			}
		}
	}
	slices.Sort(out)
	return out
}

// removeStaleProxies removes egress proxies made from another agent image (an older Holdfast)
// or that do not run, other than keep: each configuration has a proxy of its own, and these
// would otherwise stay forever. A proxy of another runner's configuration on this engine and
// image is left alone.
func (e *Engine) removeStaleProxies(ctx context.Context, keep, imageID string) {
	res, err := e.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", "holdfast.kind=egress-proxy")})
	if err != nil {
		return
	}
	for _, c := range res.Items {
		if slices.Contains(c.Names, "/"+keep) || (c.ImageID == imageID && c.State == container.StateRunning) {
			continue
		}
		if _, err := e.cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true}); err == nil {
			e.log.Info("removed a stale egress proxy", "container", c.Names, "state", c.State)
		}
	}
}

// proxyArgs are the build args that send a build's downloads through the proxy. They are
// predefined in Docker (not written into the image's history unless the Dockerfile declares
// them), and are left out of the build's cache key: the proxy's address may change.
func proxyArgs(proxy string) map[string]string {
	noProxy := "localhost,127.0.0.1,::1"
	return map[string]string{
		"HTTP_PROXY": proxy, "http_proxy": proxy,
		"HTTPS_PROXY": proxy, "https_proxy": proxy,
		"NO_PROXY": noProxy, "no_proxy": noProxy,
	}
}

// cgroupRoot is where cgroup v1 controllers are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// buildCgroup is the cgroup one build's step containers run under (ImageBuildOptions.
// CgroupParent): its pids.max caps the processes and threads of the whole build.
type buildCgroup struct {
	parent string // "/holdfast-build/<hex>"
}

// newBuildCgroup creates a build's cgroup with pids.max = pids.
func newBuildCgroup(pids int64) (*buildCgroup, error) {
	if _, err := os.Stat(filepath.Join(cgroupRoot, "pids", "tasks")); err != nil {
		return nil, fmt.Errorf("no cgroup v1 pids controller at %s/pids (%v): the build pids cap needs the runner on the Docker host, as root, with cgroup v1; set HOLDFAST_BUILD_PIDS=-1 to build without it", cgroupRoot, err)
	}
	sweepBuildCgroups()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	g := &buildCgroup{parent: "/holdfast-build/" + hex.EncodeToString(b)}
	dir := filepath.Join(cgroupRoot, "pids", g.parent)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create build cgroup (set HOLDFAST_BUILD_PIDS=-1 to build without the pids cap): %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pids.max"), []byte(strconv.FormatInt(pids, 10)), 0o644); err != nil {
		g.remove()
		return nil, fmt.Errorf("set build pids.max: %w", err)
	}
	return g, nil
}

// sweepBuildCgroups removes build cgroups older than an hour (no build lives that long): a
// runner that crashed, or a removal that raced the engine's own teardown, leaves them behind.
// A cgroup still in use is not removed (rmdir fails on it).
func sweepBuildCgroups() {
	ents, _ := os.ReadDir(filepath.Join(cgroupRoot, "pids", "holdfast-build"))
	for _, e := range ents {
		info, err := e.Info()
		if err != nil || !e.IsDir() || time.Since(info.ModTime()) < time.Hour {
			continue
		}
		(&buildCgroup{parent: "/holdfast-build/" + e.Name()}).remove()
	}
}

// containers lists the ids of the containers running under the build's cgroup now: runc
// names each container's cgroup by its id.
func (g *buildCgroup) containers() []string {
	ents, _ := os.ReadDir(filepath.Join(cgroupRoot, "pids", g.parent))
	var ids []string
	for _, e := range ents {
		if e.IsDir() && len(e.Name()) == 64 {
			ids = append(ids, e.Name())
		}
	}
	return ids
}

// remove deletes the build's cgroup in every controller (dockerd creates it in all of them).
func (g *buildCgroup) remove() {
	ctrls, _ := os.ReadDir(cgroupRoot)
	for _, c := range ctrls {
		os.Remove(filepath.Join(cgroupRoot, c.Name(), g.parent))
	}
}
