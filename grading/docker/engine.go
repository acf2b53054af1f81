package docker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/moby/moby/client"
)

// Config holds image names and caps. Field comments state defaults; Defaults fills them in.
type Config struct {
	// PostgresImage runs the Postgres sidecar. Default holdfast/postgres:15 (built locally by
	// deploy/bootstrap.sh); with registry access, postgres:16 works the same.
	PostgresImage string
	// RedisImage runs the Redis sidecar. Default holdfast/redis:7; redis:7 works the same.
	RedisImage string
	// AgentImage runs the Holdfast agent. Default holdfast/agent:dev.
	AgentImage string
	// AgentMemoryMB is the agent's own memory limit, apart from the app's: the app's traffic is
	// what makes it grow, and a kernel kill of it is reported as the app's doing. Default 512.
	AgentMemoryMB int64
	// BuildArgs are passed to every learner build, so that starters' `ARG GO_IMAGE` (and the
	// other toolchains') pick the toolchain image. Each key not given keeps its DefaultBuildArgs
	// value; with registry access the official images work the same (GO_IMAGE=golang:1.26-bookworm).
	BuildArgs map[string]string
	// BuildTimeout bounds one image build. Default 100 s (the grading's hard cap applies too).
	BuildTimeout time.Duration
	// MaxContextBytes caps the build context. Default 50 MiB.
	MaxContextBytes int64
	// MaxBuildLogBytes caps the build log kept for the report. Default 64 KiB (the tail is kept).
	MaxBuildLogBytes int
	// SkipHostGuard skips installing the firewall rule that keeps sandboxes from reaching the
	// host's own services (see guardRule). Only for engines on another machine, where the rule
	// must be installed on that machine instead. Default false: New fails if it cannot install it.
	SkipHostGuard bool
	// Build caps learner image builds and chooses their network (see BuildConfig).
	Build BuildConfig
	// Namespace is written on everything a sandbox creates (label holdfast.namespace), and the
	// Janitor sweeps only its own namespace: two installations, or a test run beside a runner,
	// can share one engine without removing each other's live sandboxes (a runner with a 20 s
	// hard cap would otherwise sweep a 5-minute grading). Lowercase letters, digits, '.', '_'
	// and '-', at most 63. Default "default".
	Namespace string
	// DiskPath is where this process sees the engine's data root (HOLDFAST_DISK_PATH), to
	// measure its free disk when a build step fails saying "no space left on device". Default:
	// the engine's own DockerRootDir (docker info), when the engine is on this machine.
	DiskPath string
	// Runtime is the OCI runtime the learner's app containers run under (HOLDFAST_RUNTIME).
	// Default "runsc": gVisor, a kernel of its own between the learner's code and the host's.
	// "runc" (the engine's usual one) only when asked for by name. The sidecars, the agent and
	// builds stay on the engine's default runtime: they run our code, not the learner's. New
	// fails, naming the fix, when the engine does not have the runtime.
	Runtime string
}

// The images an engine configured without them uses: the stand-ins deploy/bootstrap.sh builds
// and tags. DefaultPipInstall "0" tells the Python starter that its image already has the
// packages (PyPI may be out of reach); with the official python image it is "1".
const (
	DefaultPostgresImage = "holdfast/postgres:15"
	DefaultRedisImage    = "holdfast/redis:7"
	DefaultAgentImage    = "holdfast/agent:dev"
	DefaultGoImage       = "holdfast/golang:local"
	DefaultNodeImage     = "holdfast/node:local"
	DefaultPythonImage   = "holdfast/python:local"
	DefaultPipInstall    = "0"
)

// DefaultBuildArgs name the toolchain images deploy/bootstrap.sh builds and tags.
var DefaultBuildArgs = map[string]string{
	"GO_IMAGE":     DefaultGoImage,
	"NODE_IMAGE":   DefaultNodeImage,
	"PYTHON_IMAGE": DefaultPythonImage,
	"PIP_INSTALL":  DefaultPipInstall,
}

// Defaults returns c with every unset field at its default.
func (c Config) Defaults() Config {
	if c.PostgresImage == "" {
		c.PostgresImage = DefaultPostgresImage
	}
	if c.RedisImage == "" {
		c.RedisImage = DefaultRedisImage
	}
	if c.AgentImage == "" {
		c.AgentImage = DefaultAgentImage
	}
	if c.AgentMemoryMB == 0 {
		c.AgentMemoryMB = 512
	}
	args := map[string]string{}
	for k, v := range DefaultBuildArgs {
		args[k] = v
	}
	for k, v := range c.BuildArgs {
		args[k] = v
	}
	c.BuildArgs = args
	if c.BuildTimeout == 0 {
		c.BuildTimeout = 100 * time.Second
	}
	if c.MaxContextBytes == 0 {
		c.MaxContextBytes = 50 << 20
	}
	if c.MaxBuildLogBytes == 0 {
		c.MaxBuildLogBytes = 64 << 10
	}
	if c.Namespace == "" {
		c.Namespace = DefaultNamespace
	}
	if c.Runtime == "" {
		c.Runtime = DefaultRuntime
	}
	c.Build = c.Build.withDefaults()
	return c
}

// DefaultRuntime is the Runtime of learner apps when none is configured: gVisor.
const DefaultRuntime = "runsc"

// DefaultNamespace is the Namespace of an engine configured without one.
const DefaultNamespace = "default"

var namespaceRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// Engine is the Docker implementation of grading.Engine.
type Engine struct {
	cfg Config
	cli *client.Client
	log *slog.Logger

	// diskFree measures the engine's data root (disk.go); nil measures it with statfs. Tests
	// set it to decide a build step's "no space left on device" with a disk of their choosing.
	diskFree func(context.Context) (disk, error)
	root     dataRootCache
}

// Namespace is the namespace this engine's sandboxes carry and its Janitor sweeps.
func (e *Engine) Namespace() string { return e.cfg.Namespace }

// Runtime is the OCI runtime learner apps run under (Config.Runtime).
func (e *Engine) Runtime() string { return e.cfg.Runtime }

// ErrNoEngine means no Docker engine answered. Its message says how to start one.
var ErrNoEngine = errors.New("no Docker engine answers")

// New connects to the engine named by DOCKER_HOST (default the local socket), negotiates the API
// version, and checks that the sidecar and agent images exist.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Engine, error) {
	cfg = cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		cli.Close()
		return nil, fmt.Errorf("%w at %s (%v). Start one with `sudo bash deploy/bootstrap.sh` (installs Debian's docker.io and starts dockerd) or point DOCKER_HOST at a running engine", ErrNoEngine, cli.DaemonHost(), err)
	}
	if !cfg.SkipHostGuard {
		if err := ensureHostGuard(ctx); err != nil {
			cli.Close()
			return nil, fmt.Errorf("cannot keep sandboxes away from this host's services: %w. Run the runner as root on the Docker host (deploy/bootstrap.sh installs the rule too), or for a remote engine set HOLDFAST_SKIP_HOST_GUARD=1 and install the rule there", err)
		}
	}
	if err := checkRuntime(ctx, cli, cfg.Runtime); err != nil {
		cli.Close()
		return nil, err
	}
	if cfg.Runtime == DefaultRuntime {
		log.Info("learner apps run under gVisor", "runtime", cfg.Runtime)
	} else {
		log.Warn("learner apps run without gVisor, as HOLDFAST_RUNTIME asks: their code shares this host's kernel", "runtime", cfg.Runtime)
	}
	e := &Engine{cfg: cfg, cli: cli, log: log}
	// Sidecars, agent and our toolchain images must be here (RequiredImages says why).
	missing, err := e.MissingImages(ctx)
	if err != nil {
		cli.Close()
		return nil, err
	}
	if len(missing) > 0 {
		cli.Close()
		return nil, fmt.Errorf("images missing on the Docker engine: %s. Build them with `bash deploy/bootstrap.sh`, or set HOLDFAST_POSTGRES_IMAGE, HOLDFAST_REDIS_IMAGE, HOLDFAST_GO_IMAGE, HOLDFAST_NODE_IMAGE and HOLDFAST_PYTHON_IMAGE to images you have", strings.Join(missing, ", "))
	}
	return e, nil
}

// Close releases the client.
func (e *Engine) Close() error { return e.cli.Close() }
