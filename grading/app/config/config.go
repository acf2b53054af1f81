// Package config reads the App's and the runner's configuration from the environment, once, at
// start-up, and says in one message everything that is missing or wrong.
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
)

// Config is the deployment's configuration. Each field names its variable and default.
type Config struct {
	AppID         int64         // GITHUB_APP_ID, required: the App's numeric id (App settings, "About")
	PrivateKey    []byte        // GITHUB_PRIVATE_KEY (PEM text) or GITHUB_PRIVATE_KEY_FILE (a path), required
	WebhookSecret string        // GITHUB_WEBHOOK_SECRET, required by the App: the secret set in the App's webhook settings
	GitHubURL     string        // GITHUB_API_URL, default https://api.github.com (GitHub Enterprise: https://HOST/api/v3)
	DatabaseURL   string        // DATABASE_URL, required: postgres://… (the App's tables and River's queue)
	PublicURL     string        // HOLDFAST_PUBLIC_URL, default http://localhost:8080: where the App is reached, for links
	Listen        string        // HOLDFAST_LISTEN, default :8080: the App's HTTP address
	Graders       int           // RUNNER_CONCURRENCY, default 1: gradings a runner runs at once (one sandbox each)
	HardCap       time.Duration // HOLDFAST_HARD_CAP, default 120s: cap on build + run of one grading
	Org           string        // HOLDFAST_ORG: the organisation holding template and learner repositories (assign, publish)
	Installation  int64         // HOLDFAST_INSTALLATION_ID: the App's installation on that organisation (assign, publish)
	AdminToken    string        // HOLDFAST_ADMIN_TOKEN: bearer token for POST /api/assignments; unset disables the endpoint
	// HealthListen is RUNNER_HEALTH_LISTEN, default 127.0.0.1:9090: where `runner work` serves
	// GET /healthz and GET /metrics; "off" serves neither. Loopback by default because the
	// runner shares the host's network; ":9090" lets a Prometheus on another machine scrape it.
	HealthListen string
	// Reconcile is HOLDFAST_RECONCILE_EVERY, default 1m: how often runs whose GitHub state lags
	// are published and runs no job will finish are completed.
	Reconcile time.Duration
	// RecoverDeliveries is HOLDFAST_RECOVER_DELIVERIES_EVERY, default 2m: how often the App's
	// webhook deliveries are read for ones it never took; "off" turns it off.
	RecoverDeliveries time.Duration
	// ImageMaxAge is HOLDFAST_IMAGE_MAX_AGE, default 24h: the runner's sweep removes learner
	// images unused for longer (a branch's older images go as soon as a newer grading ends).
	ImageMaxAge time.Duration
	// DiskFloorBytes or DiskFloorPercent is HOLDFAST_DISK_FLOOR, default 5GiB ("10%" is a share
	// of the disk, "off" turns it off): free space on the Docker engine's data root below which
	// the runner prunes, then takes no job until space returns.
	DiskFloorBytes   uint64
	DiskFloorPercent float64
	// DiskPath is HOLDFAST_DISK_PATH, default the engine's data root as `docker info` names it:
	// where the runner sees that data root, to measure its free space.
	DiskPath string
}

// RequireOrg checks the settings that provisioning needs.
func (c Config) RequireOrg() error {
	var problems []string
	if c.Org == "" {
		problems = append(problems, "HOLDFAST_ORG is not set: the organisation for template and learner repositories")
	}
	if c.Installation <= 0 {
		problems = append(problems, "HOLDFAST_INSTALLATION_ID is not set or not a positive number: the App's installation id on that organisation (in its installation URL)")
	}
	if len(problems) > 0 {
		return errors.New("configuration:\n  - " + strings.Join(problems, "\n  - "))
	}
	return nil
}

// DefaultHealthListen is where `runner work` serves its health check and metrics when
// RUNNER_HEALTH_LISTEN is not set.
const DefaultHealthListen = "127.0.0.1:9090"

// Role says which variables a process needs.
type Role int

const (
	App Role = iota
	Runner
)

// FromEnv reads the configuration for role from getenv (os.Getenv in production).
func FromEnv(getenv func(string) string, role Role) (Config, error) {
	c := Config{
		GitHubURL:   or(getenv("GITHUB_API_URL"), "https://api.github.com"),
		DatabaseURL: getenv("DATABASE_URL"),
		PublicURL:   strings.TrimRight(or(getenv("HOLDFAST_PUBLIC_URL"), "http://localhost:8080"), "/"),
		Listen:      or(getenv("HOLDFAST_LISTEN"), ":8080"),
		Graders:     1,
		HardCap:     120 * time.Second,
		ImageMaxAge: 24 * time.Hour,
		DiskPath:    getenv("HOLDFAST_DISK_PATH"),
	}
	c.HealthListen = or(getenv("RUNNER_HEALTH_LISTEN"), DefaultHealthListen)
	if c.HealthListen == "off" {
		c.HealthListen = ""
	}
	c.Org = getenv("HOLDFAST_ORG")
	c.AdminToken = getenv("HOLDFAST_ADMIN_TOKEN")
	c.Installation, _ = strconv.ParseInt(getenv("HOLDFAST_INSTALLATION_ID"), 10, 64)
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	if v := getenv("GITHUB_APP_ID"); v == "" {
		bad("GITHUB_APP_ID is not set: use the App ID from the App's settings page")
	} else if id, err := strconv.ParseInt(v, 10, 64); err != nil || id <= 0 {
		bad("GITHUB_APP_ID=%q is not a positive number", v)
	} else {
		c.AppID = id
	}
	switch key, file := getenv("GITHUB_PRIVATE_KEY"), getenv("GITHUB_PRIVATE_KEY_FILE"); {
	case key != "" && file != "":
		bad("set GITHUB_PRIVATE_KEY or GITHUB_PRIVATE_KEY_FILE, not both")
	case key != "":
		c.PrivateKey = []byte(strings.ReplaceAll(key, `\n`, "\n"))
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			bad("GITHUB_PRIVATE_KEY_FILE: %v", err)
		}
		c.PrivateKey = b
	default:
		bad("GITHUB_PRIVATE_KEY or GITHUB_PRIVATE_KEY_FILE is not set: generate a private key in the App's settings")
	}
	if len(c.PrivateKey) > 0 && !strings.Contains(string(c.PrivateKey), "PRIVATE KEY-----") {
		bad("the GitHub private key is not PEM (it should start with -----BEGIN RSA PRIVATE KEY-----)")
	}
	if role == App {
		c.WebhookSecret = getenv("GITHUB_WEBHOOK_SECRET")
		if c.WebhookSecret == "" {
			bad("GITHUB_WEBHOOK_SECRET is not set: the App refuses to accept unsigned webhooks; use the secret from the App's webhook settings")
		}
	}
	if c.DatabaseURL == "" {
		bad("DATABASE_URL is not set: e.g. postgres://holdfast:PASSWORD@localhost:5432/holdfast")
	} else if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		bad("DATABASE_URL must be a postgres:// URL")
	}
	if u, err := url.Parse(c.GitHubURL); err != nil || u.Scheme == "" || u.Host == "" {
		bad("GITHUB_API_URL=%q is not an absolute URL", c.GitHubURL)
	}
	if v := getenv("RUNNER_CONCURRENCY"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 64 {
			bad("RUNNER_CONCURRENCY=%q must be a whole number from 1 to 64", v)
		}
		c.Graders = n
	}
	if v := getenv("HOLDFAST_HARD_CAP"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 10*time.Second {
			bad("HOLDFAST_HARD_CAP=%q must be a duration of at least 10s, e.g. 120s", v)
		}
		c.HardCap = d
	}
	if v := getenv("HOLDFAST_RECONCILE_EVERY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second {
			bad("HOLDFAST_RECONCILE_EVERY=%q must be a duration of at least 1s, e.g. 1m", v)
		}
		c.Reconcile = d
	}
	switch v := getenv("HOLDFAST_RECOVER_DELIVERIES_EVERY"); v {
	case "":
	case "off":
		c.RecoverDeliveries = -1
	default:
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second {
			bad("HOLDFAST_RECOVER_DELIVERIES_EVERY=%q must be a duration of at least 1s, e.g. 2m, or off", v)
		}
		c.RecoverDeliveries = d
	}
	if v := getenv("HOLDFAST_IMAGE_MAX_AGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Minute {
			bad("HOLDFAST_IMAGE_MAX_AGE=%q must be a duration of at least 1m, e.g. 24h", v)
		}
		c.ImageMaxAge = d
	}
	var err error
	if c.DiskFloorBytes, c.DiskFloorPercent, err = parseDiskFloor(or(getenv("HOLDFAST_DISK_FLOOR"), defaultDiskFloor)); err != nil {
		bad("HOLDFAST_DISK_FLOOR=%q %v", getenv("HOLDFAST_DISK_FLOOR"), err)
	}
	if c.HealthListen != "" {
		if _, port, err := net.SplitHostPort(c.HealthListen); err != nil || port == "" {
			bad("RUNNER_HEALTH_LISTEN=%q must be HOST:PORT or :PORT (e.g. 127.0.0.1:9090), or off", c.HealthListen)
		}
	}
	if c.AdminToken != "" && len(c.AdminToken) < 24 {
		bad("HOLDFAST_ADMIN_TOKEN is shorter than 24 characters: use a long random token (openssl rand -hex 32)")
	}
	if len(problems) > 0 {
		return c, errors.New("configuration:\n  - " + strings.Join(problems, "\n  - "))
	}
	return c, nil
}

// defaultDiskFloor is HOLDFAST_DISK_FLOOR's default.
const defaultDiskFloor = "5GiB"

// parseDiskFloor reads a disk-free floor: a size ("5GiB", "500MiB", "20GB", "1073741824"), a
// share of the disk ("10%"), or "off" (0, 0).
func parseDiskFloor(v string) (bytes uint64, percent float64, err error) {
	v = strings.TrimSpace(v)
	if v == "off" {
		return 0, 0, nil
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
	return uint64(f * mult), 0, nil
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
