package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/app/jobs"
	"github.com/holdfast-ci/holdfast/grading/docker"
)

// Config is the configuration of every Holdfast process: the App, the runner and the learner's
// tool. FromEnv fills it from the environment; a process built in code (a test) sets the fields
// it needs and calls WithDefaults. Each field names its variable; a zero field takes the
// default its comment names.
type Config struct {
	// Role is the process this configuration is for; it decides which variables FromEnv reads
	// and requires, and the defaults of the sandbox's settings.
	Role Role

	// AppID is GITHUB_APP_ID, the App's numeric id (App settings, "About"). Required by App,
	// Provision and Runner.
	AppID int64
	// PrivateKey is the App's private key: GITHUB_PRIVATE_KEY (PEM text, "\n" for line breaks)
	// or GITHUB_PRIVATE_KEY_FILE (a path), one of them. Required where AppID is.
	PrivateKey []byte
	// WebhookSecret is GITHUB_WEBHOOK_SECRET, the secret set in the App's webhook settings.
	// Required by App (`app serve`): it refuses unsigned webhooks.
	WebhookSecret string
	// GitHubURL is GITHUB_API_URL, GitHub's REST API (GitHub Enterprise: https://HOST/api/v3).
	//
	// Defaults to DefaultGitHubURL.
	GitHubURL string
	// DatabaseURL is DATABASE_URL, postgres://… for the App's tables and River's queue.
	// Required by App, Provision, Runner and Migrate.
	DatabaseURL string
	// PublicURL is HOLDFAST_PUBLIC_URL, where the App is reached, for check runs' links; no
	// trailing slash.
	//
	// Defaults to DefaultPublicURL.
	PublicURL string
	// Listen is HOLDFAST_LISTEN, the App's HTTP address (HOST:PORT or :PORT).
	//
	// Defaults to DefaultListen.
	Listen string
	// Org is HOLDFAST_ORG, the organisation holding template and learner repositories; assign,
	// templates publish and invite require it (RequireOrg).
	Org string
	// Installation is HOLDFAST_INSTALLATION_ID, the App's installation on Org; required with it.
	Installation int64
	// AdminToken is HOLDFAST_ADMIN_TOKEN, the bearer token for POST /api/assignments, at least
	// MinAdminToken characters. Unset: the endpoint is off.
	AdminToken string
	// TemplatesDir is HOLDFAST_TEMPLATES_DIR, a templates/ directory the built-in challenges'
	// briefs and starters are read from instead of the binary's. Unset: the embedded ones.
	TemplatesDir string

	// Graders is RUNNER_CONCURRENCY, the gradings a runner runs at once (one sandbox each),
	// from MinGraders to MaxGraders.
	//
	// Defaults to DefaultGraders.
	Graders int
	// HardCap is HOLDFAST_HARD_CAP, the cap on build and run of one grading by `runner work`,
	// at least MinHardCap. (`runner grade`, `compare`, `stability` and `holdfast test` take it
	// from --timeout, whose default is DefaultHardCap too.)
	//
	// Defaults to DefaultHardCap.
	HardCap time.Duration
	// ShutdownGrace is HOLDFAST_SHUTDOWN_GRACE, how long a stopping `runner work` lets the
	// gradings in flight finish before it cancels them and hands them back to the queue; at
	// least MinShutdownGrace. A grace at least the hard cap finishes every one it has.
	//
	// Defaults to DefaultShutdownGrace.
	ShutdownGrace time.Duration
	// HealthListen is RUNNER_HEALTH_LISTEN, where `runner work` serves GET /healthz, /readyz and
	// /metrics (HOST:PORT or :PORT); Off serves none. Loopback by default because the runner
	// shares the host's network; ":9090" lets a Prometheus on another machine scrape it.
	//
	// Defaults to DefaultHealthListen.
	HealthListen string
	// Reconcile is HOLDFAST_RECONCILE_EVERY, how often runs whose GitHub state lags are
	// published and runs no job will finish are completed; at least MinInterval.
	//
	// Defaults to DefaultReconcile.
	Reconcile time.Duration
	// RecoverDeliveries is HOLDFAST_RECOVER_DELIVERIES_EVERY, how often the App's webhook
	// deliveries are read for ones it never took; at least MinInterval, or -1 (Off) for never.
	//
	// Defaults to DefaultRecoverDeliveries.
	RecoverDeliveries time.Duration
	// ImageMaxAge is HOLDFAST_IMAGE_MAX_AGE: the runner's sweep removes learner images unused
	// for longer (a branch's older images go as soon as a newer grading ends); at least
	// MinImageMaxAge.
	//
	// Defaults to DefaultImageMaxAge.
	ImageMaxAge time.Duration
	// DiskFloorBytes or DiskFloorPercent is HOLDFAST_DISK_FLOOR: free space on the Docker
	// engine's data root below which the runner prunes, then takes no job until space returns.
	// A size ("500MiB", "20GB", at least 1 MiB), a share of the disk ("10%"), or off
	// (DiskFloorBytes -1).
	//
	// Defaults to DefaultDiskFloorBytes when both are zero.
	DiskFloorBytes   int64
	DiskFloorPercent float64
	// DiskPath is HOLDFAST_DISK_PATH, where the runner sees the engine's data root, to measure
	// its free space: for the floor, and when a build step fails saying "no space left on
	// device" (docker.Config.DiskPath). Unset: the data root `docker info` names.
	DiskPath string
	// PoolSize is HOLDFAST_POOL_SIZE, the sandboxes `runner work` keeps provisioned ahead of
	// its gradings (docker.Pool), from 1 to MaxPoolSize; -1 (0 or off) keeps none.
	//
	// Defaults to DefaultPoolSize.
	PoolSize int

	// The sandbox's settings, read for Runner, Sandbox, Local and Learner. (The warm pool's
	// size, PoolSize above, is the runner's alone: no other command keeps a pool.)

	// PostgresImage is HOLDFAST_POSTGRES_IMAGE, the Postgres sidecar's image; postgres:16 works
	// the same.
	//
	// Defaults to DefaultPostgresImage; for Learner, to the image set HOLDFAST_IMAGES chooses.
	PostgresImage string
	// RedisImage is HOLDFAST_REDIS_IMAGE, the Redis sidecar's image; redis:7 works the same.
	//
	// Defaults to DefaultRedisImage; for Learner, to the image set HOLDFAST_IMAGES chooses.
	RedisImage string
	// AgentImage is HOLDFAST_AGENT_IMAGE, the in-sandbox agent's image.
	//
	// Defaults to DefaultAgentImage; for Learner, to one holdfast builds from itself.
	AgentImage string
	// GoImage, NodeImage, PythonImage and PipInstall are HOLDFAST_GO_IMAGE,
	// HOLDFAST_NODE_IMAGE, HOLDFAST_PYTHON_IMAGE and HOLDFAST_PIP_INSTALL ("0" or "1"): the
	// build arguments GO_IMAGE, NODE_IMAGE, PYTHON_IMAGE and PIP_INSTALL of learners'
	// Dockerfiles.
	//
	// Default to DefaultGoImage, DefaultNodeImage, DefaultPythonImage and DefaultPipInstall;
	// for Learner, to the image set HOLDFAST_IMAGES chooses.
	GoImage, NodeImage, PythonImage, PipInstall string
	// Runtime is HOLDFAST_RUNTIME, the OCI runtime of learners' app containers: runsc (gVisor)
	// or runc, only when named. The engine refuses a runtime it lacks, naming the fix.
	//
	// Defaults to DefaultRuntime; for Local and Learner (a learner's own machine), LocalRuntime.
	Runtime string
	// Namespace is HOLDFAST_NAMESPACE, the label on this process's sandboxes; its janitor
	// sweeps only its own namespace.
	//
	// Defaults to DefaultNamespace.
	Namespace string
	// SkipHostGuard is HOLDFAST_SKIP_HOST_GUARD ("1" true, "0" false): true skips the firewall
	// rule that keeps sandboxes from the host's services, only for a remote engine whose host
	// has it.
	//
	// Unset, FromEnv makes it false; for Local and Learner, true (the rule needs root and
	// iptables, which a learner's machine seldom has).
	SkipHostGuard bool
	// BuildNetwork is HOLDFAST_BUILD_NETWORK, where learners' builds run: fenced or open.
	//
	// Defaults to DefaultBuildNetwork.
	BuildNetwork string
	// BuildAllow is HOLDFAST_BUILD_ALLOW, comma-separated: the host names the egress proxy
	// lets builds fetch from (".example.org" covers its subdomains).
	//
	// Defaults to docker.DefaultBuildAllow (the Go, npm, PyPI and Debian registries).
	BuildAllow []string
	// BuildPids is HOLDFAST_BUILD_PIDS, the processes one build may run; -1 for no cap.
	//
	// Defaults to DefaultBuildPids; for Local and Learner, LocalBuildPids.
	BuildPids int64
	// Images is HOLDFAST_IMAGES, for Learner: "official" (from Docker Hub), "local" (the
	// holdfast/* stand-ins), or unset to choose by what answers.
	Images string

	given map[string]bool // the variables FromEnv found set
}

// Role is a process: what it reads and requires.
type Role int

// The roles. Every role reads only the variables it uses, so that a learner's own
// DATABASE_URL, say, never stops `holdfast test`.
const (
	// App is `app serve`: the GitHub App's settings, the organisation, the webhook secret and
	// admin token, the database, HOLDFAST_LISTEN and the job client's.
	App Role = iota
	// Runner is `runner work`: the GitHub App's settings, the database, the job client's, the
	// runner's, RUNNER_HEALTH_LISTEN and the sandbox's.
	Runner
	// Provision is `app assign`, `app templates publish` and `app invite`: the GitHub App's
	// settings, the organisation and the database.
	Provision
	// Migrate is `app migrate`, `app extend` and `app reviewer`: the database only.
	Migrate
	// AppHealth is `app healthcheck`: HOLDFAST_LISTEN only.
	AppHealth
	// RunnerHealth is `runner healthcheck`: RUNNER_HEALTH_LISTEN only.
	RunnerHealth
	// Sandbox is `runner build`, `stability` and `janitor`: the sandbox's settings, with the
	// grading service's defaults.
	Sandbox
	// Local is `runner grade` and `compare`, run on a learner's or author's own machine: the
	// sandbox's settings, with LocalRuntime, LocalBuildPids and no host guard by default.
	Local
	// Learner is `holdfast test`: as Local, plus HOLDFAST_IMAGES; the images it does not name
	// come from the image set it chooses.
	Learner
)

// Defaults and limits. Where another package owns a default, the constant here is that one.
const (
	DefaultGitHubURL         = "https://api.github.com"
	DefaultPublicURL         = "http://localhost:8080"
	DefaultListen            = ":8080"
	DefaultGraders           = 1
	MinGraders, MaxGraders   = 1, 64
	DefaultPoolSize          = 1
	MaxPoolSize              = 16 // each waiting sandbox holds two of the engine's networks
	DefaultHardCap           = grading.DefaultHardCap
	MinHardCap               = 10 * time.Second
	DefaultShutdownGrace     = 30 * time.Second
	MinShutdownGrace         = time.Second
	DefaultHealthListen      = "127.0.0.1:9090"
	DefaultReconcile         = jobs.DefaultReconcile
	DefaultRecoverDeliveries = jobs.DefaultRecoverDeliveries
	MinInterval              = time.Second
	DefaultImageMaxAge       = 24 * time.Hour
	MinImageMaxAge           = time.Minute
	DefaultDiskFloorBytes    = 5 << 30
	MinAdminToken            = 24

	DefaultPostgresImage = docker.DefaultPostgresImage
	DefaultRedisImage    = docker.DefaultRedisImage
	DefaultAgentImage    = docker.DefaultAgentImage
	DefaultGoImage       = docker.DefaultGoImage
	DefaultNodeImage     = docker.DefaultNodeImage
	DefaultPythonImage   = docker.DefaultPythonImage
	DefaultPipInstall    = docker.DefaultPipInstall
	DefaultRuntime       = docker.DefaultRuntime
	LocalRuntime         = "runc"
	DefaultNamespace     = docker.DefaultNamespace
	DefaultBuildNetwork  = docker.BuildNetworkFenced
	DefaultBuildPids     = docker.DefaultBuildPids
	LocalBuildPids       = -1

	// Off turns off what RUNNER_HEALTH_LISTEN, HOLDFAST_RECOVER_DELIVERIES_EVERY and
	// HOLDFAST_DISK_FLOOR name.
	Off = "off"
)

// parts of the configuration, read by the roles that use them.
type part int

const (
	partGitHub   part = 1 << iota // GITHUB_APP_ID, the private key, GITHUB_API_URL
	partOrg                       // HOLDFAST_ORG, HOLDFAST_INSTALLATION_ID, HOLDFAST_TEMPLATES_DIR
	partServe                     // GITHUB_WEBHOOK_SECRET, HOLDFAST_ADMIN_TOKEN
	partDatabase                  // DATABASE_URL
	partListen                    // HOLDFAST_LISTEN
	partJobs                      // the job client's: HOLDFAST_PUBLIC_URL and its intervals
	partRunner                    // the runner's own settings
	partHealth                    // RUNNER_HEALTH_LISTEN
	partSandbox                   // the sandbox's settings
	partImages                    // HOLDFAST_IMAGES
)

// roleParts is what each role reads: only what its commands use.
var roleParts = [...]part{
	App:          partGitHub | partOrg | partServe | partDatabase | partListen | partJobs,
	Runner:       partGitHub | partDatabase | partJobs | partRunner | partHealth | partSandbox,
	Provision:    partGitHub | partOrg | partDatabase,
	Migrate:      partDatabase,
	AppHealth:    partListen,
	RunnerHealth: partHealth,
	Sandbox:      partSandbox,
	Local:        partSandbox,
	Learner:      partSandbox | partImages,
}

func (r Role) parts() part {
	if r < 0 || int(r) >= len(roleParts) {
		return 0
	}
	return roleParts[r]
}

// local says whether the role runs on a learner's own machine.
func (r Role) local() bool { return r == Local || r == Learner }

// FromEnv reads the configuration of role from getenv (os.Getenv in production), with its
// defaults, and checks it: the error lists every variable that is missing or wrong, saying
// what is allowed. It is the one place Holdfast's processes read their settings from.
func FromEnv(getenv func(string) string, role Role) (Config, error) {
	c := Config{Role: role, given: map[string]bool{}}
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	get := func(name string) string {
		v := getenv(name)
		if v != "" {
			c.given[name] = true
		}
		return v
	}
	duration := func(name string, min time.Duration, example string, off bool) time.Duration {
		v := get(name)
		if v == "" {
			return 0
		}
		if off && v == Off {
			return -1
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < min {
			orOff := ""
			if off {
				orOff = ", or off"
			}
			bad("%s=%q must be a duration of at least %s, e.g. %s%s", name, v, min, example, orOff)
		}
		return d
	}
	p := role.parts()
	if p&partGitHub != 0 {
		if v := get("GITHUB_APP_ID"); v == "" {
			bad("GITHUB_APP_ID is not set: use the App ID from the App's settings page")
		} else if id, err := strconv.ParseInt(v, 10, 64); err != nil || id <= 0 {
			bad("GITHUB_APP_ID=%q is not a positive number: use the App ID from the App's settings page", v)
		} else {
			c.AppID = id
		}
		switch key, file := get("GITHUB_PRIVATE_KEY"), get("GITHUB_PRIVATE_KEY_FILE"); {
		case key != "" && file != "":
			bad("set GITHUB_PRIVATE_KEY or GITHUB_PRIVATE_KEY_FILE, not both")
		case key != "":
			c.PrivateKey = []byte(strings.ReplaceAll(key, `\n`, "\n"))
		case file != "":
			b, err := os.ReadFile(file)
			if err != nil {
				bad("GITHUB_PRIVATE_KEY_FILE: %v: name a file this process can read holding the App's private key (.pem), or set GITHUB_PRIVATE_KEY to its text", err)
			}
			c.PrivateKey = b
		default:
			bad("GITHUB_PRIVATE_KEY or GITHUB_PRIVATE_KEY_FILE is not set: generate a private key in the App's settings")
		}
		c.GitHubURL = get("GITHUB_API_URL")
	}
	if p&partOrg != 0 {
		c.Org = get("HOLDFAST_ORG")
		if v := get("HOLDFAST_INSTALLATION_ID"); v != "" {
			if n, err := strconv.ParseInt(v, 10, 64); err != nil || n <= 0 {
				bad("HOLDFAST_INSTALLATION_ID=%q is not a positive number: use the App's installation id on HOLDFAST_ORG (in its installation URL)", v)
			} else {
				c.Installation = n
			}
		}
		c.TemplatesDir = get("HOLDFAST_TEMPLATES_DIR")
	}
	if p&partServe != 0 {
		c.WebhookSecret = get("GITHUB_WEBHOOK_SECRET")
		if c.WebhookSecret == "" {
			bad("GITHUB_WEBHOOK_SECRET is not set: the App refuses to accept unsigned webhooks; use the secret from the App's webhook settings")
		}
		c.AdminToken = get("HOLDFAST_ADMIN_TOKEN")
	}
	if p&partDatabase != 0 {
		if c.DatabaseURL = get("DATABASE_URL"); c.DatabaseURL == "" {
			bad("DATABASE_URL is not set: e.g. postgres://holdfast:PASSWORD@localhost:5432/holdfast")
		}
	}
	if p&partListen != 0 {
		c.Listen = get("HOLDFAST_LISTEN")
	}
	if p&partJobs != 0 {
		c.PublicURL = strings.TrimRight(get("HOLDFAST_PUBLIC_URL"), "/")
		c.Reconcile = duration("HOLDFAST_RECONCILE_EVERY", MinInterval, "1m", false)
		c.RecoverDeliveries = duration("HOLDFAST_RECOVER_DELIVERIES_EVERY", MinInterval, "2m", true)
	}
	if p&partRunner != 0 {
		if v := get("RUNNER_CONCURRENCY"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < MinGraders || n > MaxGraders {
				bad("RUNNER_CONCURRENCY=%q must be a whole number from %d to %d", v, MinGraders, MaxGraders)
			}
			c.Graders = n
		}
		if v := get("HOLDFAST_POOL_SIZE"); v == Off || v == "0" {
			c.PoolSize = -1
		} else if v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > MaxPoolSize {
				bad("HOLDFAST_POOL_SIZE=%q must be a whole number from 0 (no pool) to %d, or off", v, MaxPoolSize)
			}
			c.PoolSize = n
		}
		c.HardCap = duration("HOLDFAST_HARD_CAP", MinHardCap, "120s", false)
		c.ShutdownGrace = duration("HOLDFAST_SHUTDOWN_GRACE", MinShutdownGrace, "30s", false)
		c.ImageMaxAge = duration("HOLDFAST_IMAGE_MAX_AGE", MinImageMaxAge, "24h", false)
		if v := get("HOLDFAST_DISK_FLOOR"); v != "" {
			var err error
			if c.DiskFloorBytes, c.DiskFloorPercent, err = parseDiskFloor(v); err != nil {
				bad("HOLDFAST_DISK_FLOOR=%q %v", v, err)
			}
		}
		c.DiskPath = get("HOLDFAST_DISK_PATH")
	}
	if p&partHealth != 0 {
		c.HealthListen = get("RUNNER_HEALTH_LISTEN")
	}
	if p&partSandbox != 0 {
		c.PostgresImage = get("HOLDFAST_POSTGRES_IMAGE")
		c.RedisImage = get("HOLDFAST_REDIS_IMAGE")
		c.AgentImage = get("HOLDFAST_AGENT_IMAGE")
		c.GoImage = get("HOLDFAST_GO_IMAGE")
		c.NodeImage = get("HOLDFAST_NODE_IMAGE")
		c.PythonImage = get("HOLDFAST_PYTHON_IMAGE")
		c.PipInstall = get("HOLDFAST_PIP_INSTALL")
		c.Runtime = get("HOLDFAST_RUNTIME")
		c.Namespace = get("HOLDFAST_NAMESPACE")
		switch v := get("HOLDFAST_SKIP_HOST_GUARD"); v {
		case "":
			c.SkipHostGuard = role.local()
		case "0", "1":
			c.SkipHostGuard = v == "1"
		default:
			bad("HOLDFAST_SKIP_HOST_GUARD=%q must be 1 (skip the firewall rule: only for a remote engine whose host has it) or 0 (install it)", v)
		}
		c.BuildNetwork = get("HOLDFAST_BUILD_NETWORK")
		for _, h := range strings.Split(get("HOLDFAST_BUILD_ALLOW"), ",") {
			if h = strings.TrimSpace(h); h != "" {
				c.BuildAllow = append(c.BuildAllow, h)
			}
		}
		if v := get("HOLDFAST_BUILD_PIDS"); v != "" {
			// A refused value is not kept: the engine's own check would say it again.
			if n, err := strconv.ParseInt(v, 10, 64); err != nil || n == 0 || n < -1 {
				bad("HOLDFAST_BUILD_PIDS=%q must be a positive number of processes, or -1 for no cap", v)
			} else {
				c.BuildPids = n
			}
		}
	}
	if p&partImages != 0 {
		c.Images = get("HOLDFAST_IMAGES")
	}
	c = c.WithDefaults()
	if err := c.validate(); err != nil {
		problems = append(problems, strings.Split(err.Error(), "\n")...)
	}
	if len(problems) > 0 {
		return c, errors.New("configuration:\n  - " + strings.Join(problems, "\n  - "))
	}
	return c, nil
}

// Given says whether FromEnv found the variable name set (to anything but ""), so that a
// command can say which defaults it chose.
func (c Config) Given(name string) bool { return c.given[name] }

// WithDefaults returns c with every zero field of its role's parts at its default.
func (c Config) WithDefaults() Config {
	p := c.Role.parts()
	if p&partGitHub != 0 {
		c.GitHubURL = or(c.GitHubURL, DefaultGitHubURL)
	}
	if p&partListen != 0 {
		c.Listen = or(c.Listen, DefaultListen)
	}
	if p&partJobs != 0 {
		c.PublicURL = or(c.PublicURL, DefaultPublicURL)
		c.Reconcile = orZero(c.Reconcile, DefaultReconcile)
		c.RecoverDeliveries = orZero(c.RecoverDeliveries, DefaultRecoverDeliveries)
	}
	if p&partRunner != 0 {
		c.Graders = orZero(c.Graders, DefaultGraders)
		c.PoolSize = orZero(c.PoolSize, DefaultPoolSize)
		c.HardCap = orZero(c.HardCap, DefaultHardCap)
		c.ShutdownGrace = orZero(c.ShutdownGrace, DefaultShutdownGrace)
		c.ImageMaxAge = orZero(c.ImageMaxAge, DefaultImageMaxAge)
		if c.DiskFloorBytes == 0 && c.DiskFloorPercent == 0 {
			c.DiskFloorBytes = DefaultDiskFloorBytes
		}
	}
	if p&partHealth != 0 {
		c.HealthListen = or(c.HealthListen, DefaultHealthListen)
	}
	if p&partSandbox != 0 {
		if c.Role != Learner { // holdfast takes the images it is not given from the set it chooses
			c.PostgresImage = or(c.PostgresImage, DefaultPostgresImage)
			c.RedisImage = or(c.RedisImage, DefaultRedisImage)
			c.AgentImage = or(c.AgentImage, DefaultAgentImage)
			c.GoImage = or(c.GoImage, DefaultGoImage)
			c.NodeImage = or(c.NodeImage, DefaultNodeImage)
			c.PythonImage = or(c.PythonImage, DefaultPythonImage)
			c.PipInstall = or(c.PipInstall, DefaultPipInstall)
		}
		c.Namespace = or(c.Namespace, DefaultNamespace)
		c.BuildNetwork = or(c.BuildNetwork, DefaultBuildNetwork)
		if len(c.BuildAllow) == 0 {
			c.BuildAllow = docker.DefaultBuildAllow
		}
		if c.Role.local() {
			c.Runtime = or(c.Runtime, LocalRuntime)
			c.BuildPids = orZero(c.BuildPids, LocalBuildPids)
		} else {
			c.Runtime = or(c.Runtime, DefaultRuntime)
			c.BuildPids = orZero(c.BuildPids, DefaultBuildPids)
		}
	}
	return c
}

// validate checks the values of c's parts, one problem a line, each naming its variable and
// what it allows.
func (c Config) validate() error {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	p := c.Role.parts()
	if p&partGitHub != 0 {
		if len(c.PrivateKey) > 0 && !strings.Contains(string(c.PrivateKey), "PRIVATE KEY-----") {
			bad("the GitHub private key is not PEM (it should start with -----BEGIN RSA PRIVATE KEY-----): use the .pem file the App's settings page generated")
		}
		if u, err := url.Parse(c.GitHubURL); err != nil || u.Scheme == "" || u.Host == "" {
			bad("GITHUB_API_URL=%q is not an absolute URL, e.g. https://github.example.com/api/v3", c.GitHubURL)
		}
	}
	if p&partServe != 0 && c.AdminToken != "" && len(c.AdminToken) < MinAdminToken {
		bad("HOLDFAST_ADMIN_TOKEN is shorter than %d characters: use a long random token (openssl rand -hex 32)", MinAdminToken)
	}
	if p&partJobs != 0 {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("HOLDFAST_PUBLIC_URL=%q is not an http:// or https:// URL, e.g. https://holdfast.example.com", c.PublicURL)
		}
	}
	if p&partDatabase != 0 && c.DatabaseURL != "" {
		if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			bad("DATABASE_URL must be a postgres:// URL, e.g. postgres://holdfast:PASSWORD@localhost:5432/holdfast")
		}
	}
	if p&partListen != 0 && !hostPort(c.Listen) {
		bad("HOLDFAST_LISTEN=%q must be HOST:PORT or :PORT, e.g. :8080", c.Listen)
	}
	if p&partHealth != 0 && c.HealthListen != Off && !hostPort(c.HealthListen) {
		bad("RUNNER_HEALTH_LISTEN=%q must be HOST:PORT or :PORT (e.g. 127.0.0.1:9090), or off", c.HealthListen)
	}
	if p&partSandbox != 0 {
		if c.PipInstall != "" && c.PipInstall != "0" && c.PipInstall != "1" {
			bad("HOLDFAST_PIP_INSTALL=%q must be 0 (the Python image has the starters' packages) or 1 (pip installs them)", c.PipInstall)
		}
		if err := c.Engine().Validate(); err != nil {
			bad("%v", err)
		}
	}
	if p&partImages != 0 && c.Images != "" && c.Images != "official" && c.Images != "local" {
		bad("HOLDFAST_IMAGES=%q must be official (from Docker Hub), local (the holdfast/* stand-ins) or unset to choose by what answers", c.Images)
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n"))
	}
	return nil
}

func hostPort(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	return err == nil && port != ""
}

// Engine is the sandbox's part of c as the Docker engine takes it. The images c leaves empty
// (Learner's, before it chooses a set) are the engine's defaults.
func (c Config) Engine() docker.Config {
	args := map[string]string{}
	for arg, v := range map[string]string{"GO_IMAGE": c.GoImage, "NODE_IMAGE": c.NodeImage, "PYTHON_IMAGE": c.PythonImage, "PIP_INSTALL": c.PipInstall} {
		if v != "" {
			args[arg] = v
		}
	}
	return docker.Config{
		PostgresImage: c.PostgresImage,
		RedisImage:    c.RedisImage,
		AgentImage:    c.AgentImage,
		BuildArgs:     args,
		SkipHostGuard: c.SkipHostGuard,
		Build:         docker.BuildConfig{Pids: c.BuildPids, Network: c.BuildNetwork, Allow: c.BuildAllow},
		Namespace:     c.Namespace,
		Runtime:       c.Runtime,
		DiskPath:      c.DiskPath,
	}
}

// HealthAddr is where `runner work` serves its health endpoint: HealthListen, or "" when it
// is Off.
func (c Config) HealthAddr() string {
	if c.HealthListen == Off {
		return ""
	}
	return c.HealthListen
}

// DiskFloor is the free-space floor as the runner's image keeper takes it: bytes or a share of
// the disk, both zero when the floor is off.
func (c Config) DiskFloor() (bytes uint64, percent float64) {
	return uint64(max(c.DiskFloorBytes, 0)), c.DiskFloorPercent
}

// RequireOrg checks the settings that provisioning needs.
func (c Config) RequireOrg() error {
	var problems []string
	if c.Org == "" {
		problems = append(problems, "HOLDFAST_ORG is not set: set it to the organisation that holds template and learner repositories")
	}
	if c.Installation <= 0 {
		problems = append(problems, "HOLDFAST_INSTALLATION_ID is not set: set it to the App's installation id on that organisation (the number that ends its installation's settings URL)")
	}
	if len(problems) > 0 {
		return errors.New("configuration:\n  - " + strings.Join(problems, "\n  - "))
	}
	return nil
}

// parseDiskFloor reads a disk-free floor: a size ("5GiB", "500MiB", "20GB", "1073741824"), a
// share of the disk ("10%"), or "off" (-1 bytes).
func parseDiskFloor(v string) (bytes int64, percent float64, err error) {
	v = strings.TrimSpace(v)
	if v == Off {
		return -1, 0, nil
	}
	if p, ok := strings.CutSuffix(v, "%"); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || f <= 0 || f >= 100 {
			return 0, 0, errors.New("must be a share of the disk above 0% and below 100%, e.g. 10%")
		}
		return 0, f, nil
	}
	units := []struct {
		suffix string
		mult   float64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}}
	num, mult := v, 1.0
	for _, u := range units {
		if n, ok := strings.CutSuffix(v, u.suffix); ok {
			num, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f <= 0 || f*mult < 1<<20 || f*mult > 1<<60 {
		return 0, 0, errors.New("must be a size of at least 1MiB (e.g. 5GiB, 500MiB), a share of the disk (e.g. 10%), or off")
	}
	return int64(f * mult), 0, nil
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func orZero[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
