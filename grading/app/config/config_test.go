package config

import (
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

const pem = "-----BEGIN RSA PRIVATE KEY-----\nMII...\n-----END RSA PRIVATE KEY-----\n"

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestFromEnv(t *testing.T) {
	t.Parallel()
	good := map[string]string{"GITHUB_APP_ID": "42", "GITHUB_PRIVATE_KEY": pem, "GITHUB_WEBHOOK_SECRET": "s",
		"DATABASE_URL": "postgres://u@h/db", "RUNNER_CONCURRENCY": "2", "HOLDFAST_HARD_CAP": "90s"}
	c, err := FromEnv(env(good), Runner)
	if err != nil || c.AppID != 42 || c.Graders != 2 || c.HardCap != 90*time.Second || c.GitHubURL != "https://api.github.com" {
		t.Fatalf("got %+v, %v", c, err)
	}
	cases := []struct {
		name   string
		change map[string]string
		role   Role
		say    string
	}{
		{"no app id", map[string]string{"GITHUB_APP_ID": ""}, App, "GITHUB_APP_ID is not set"},
		{"bad app id", map[string]string{"GITHUB_APP_ID": "x"}, App, `GITHUB_APP_ID="x"`},
		{"no key", map[string]string{"GITHUB_PRIVATE_KEY": ""}, App, "GITHUB_PRIVATE_KEY or GITHUB_PRIVATE_KEY_FILE is not set"},
		{"two keys", map[string]string{"GITHUB_PRIVATE_KEY_FILE": "/x"}, App, "not both"},
		{"not pem", map[string]string{"GITHUB_PRIVATE_KEY": "hello"}, App, "not PEM"},
		{"missing key file", map[string]string{"GITHUB_PRIVATE_KEY": "", "GITHUB_PRIVATE_KEY_FILE": "/nonexistent/key.pem"}, App, "GITHUB_PRIVATE_KEY_FILE"},
		{"no secret", map[string]string{"GITHUB_WEBHOOK_SECRET": ""}, App, "refuses to accept unsigned webhooks"},
		{"no database", map[string]string{"DATABASE_URL": ""}, Runner, "DATABASE_URL is not set"},
		{"mysql", map[string]string{"DATABASE_URL": "mysql://x"}, Runner, "postgres:// URL"},
		{"concurrency", map[string]string{"RUNNER_CONCURRENCY": "0"}, Runner, "RUNNER_CONCURRENCY"},
		{"pool size", map[string]string{"HOLDFAST_POOL_SIZE": "-1"}, Runner, `HOLDFAST_POOL_SIZE="-1" must be a whole number from 0`},
		{"pool too big", map[string]string{"HOLDFAST_POOL_SIZE": "17"}, Runner, "to 16"},
		{"hard cap", map[string]string{"HOLDFAST_HARD_CAP": "1s"}, Runner, "HOLDFAST_HARD_CAP"},
		{"health listen", map[string]string{"RUNNER_HEALTH_LISTEN": "9090"}, Runner, "RUNNER_HEALTH_LISTEN"},
		{"image max age", map[string]string{"HOLDFAST_IMAGE_MAX_AGE": "5s"}, Runner, "HOLDFAST_IMAGE_MAX_AGE"},
		{"disk floor", map[string]string{"HOLDFAST_DISK_FLOOR": "lots"}, Runner, `HOLDFAST_DISK_FLOOR="lots" must be a size`},
		{"disk floor share", map[string]string{"HOLDFAST_DISK_FLOOR": "150%"}, Runner, "below 100%"},
	}
	for _, c := range cases {
		if _, err := FromEnv(withEnv(good, c.change), c.role); err == nil || !strings.Contains(err.Error(), c.say) {
			t.Errorf("%s: got %v, want an error saying %q", c.name, err, c.say)
		}
	}
	if c.HealthListen != DefaultHealthListen {
		t.Fatalf("health address by default: %q, want %q", c.HealthListen, DefaultHealthListen)
	}
	for v, want := range map[string]string{"off": "", ":9191": ":9191", "0.0.0.0:9090": "0.0.0.0:9090"} {
		if c, err := FromEnv(withEnv(good, map[string]string{"RUNNER_HEALTH_LISTEN": v}), Runner); err != nil || c.HealthAddr() != want {
			t.Errorf("RUNNER_HEALTH_LISTEN=%q: %q, %v; want %q", v, c.HealthAddr(), err, want)
		}
	}
	// The runner needs no webhook secret; all problems are reported at once.
	delete(good, "GITHUB_WEBHOOK_SECRET")
	if _, err := FromEnv(env(good), Runner); err != nil {
		t.Fatalf("runner without a webhook secret: %v", err)
	}
	if _, err := FromEnv(env(map[string]string{}), App); err == nil || strings.Count(err.Error(), "\n  - ") < 4 {
		t.Fatalf("empty environment: want every problem listed, got %v", err)
	}
}

func TestPublishingIntervals(t *testing.T) {
	env := map[string]string{"GITHUB_APP_ID": "1", "GITHUB_PRIVATE_KEY": pem, "DATABASE_URL": "postgres://x",
		"HOLDFAST_RECONCILE_EVERY": "5s", "HOLDFAST_RECOVER_DELIVERIES_EVERY": "off"}
	c, err := FromEnv(func(k string) string { return env[k] }, Runner)
	if err != nil || c.Reconcile != 5*time.Second || c.RecoverDeliveries >= 0 {
		t.Fatalf("config %+v, %v; want reconcile 5s, recovery off", c, err)
	}
	env["HOLDFAST_RECONCILE_EVERY"], env["HOLDFAST_RECOVER_DELIVERIES_EVERY"] = "soon", "0s"
	_, err = FromEnv(func(k string) string { return env[k] }, Runner)
	if err == nil || !strings.Contains(err.Error(), "HOLDFAST_RECONCILE_EVERY") || !strings.Contains(err.Error(), "HOLDFAST_RECOVER_DELIVERIES_EVERY") {
		t.Fatalf("bad intervals: %v", err)
	}
}

func TestParseDiskFloor(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in      string
		bytes   int64
		percent float64
		bad     bool
	}{
		{in: "5GiB", bytes: 5 << 30},
		{in: "500 MiB", bytes: 500 << 20},
		{in: "20GB", bytes: 20e9},
		{in: "1073741824", bytes: 1 << 30},
		{in: "1.5GiB", bytes: 3 << 29},
		{in: "10%", percent: 10},
		{in: "off", bytes: -1},
		{in: "0", bad: true},
		{in: "512KiB", bad: true}, // under 1 MiB: surely a mistake
		{in: "-5GiB", bad: true},
		{in: "100%", bad: true},
		{in: "0%", bad: true},
		{in: "5 gigs", bad: true},
		{in: "", bad: true},
	}
	for _, c := range cases {
		b, p, err := parseDiskFloor(c.in)
		if c.bad {
			if err == nil {
				t.Errorf("parseDiskFloor(%q) = %d, %g; want an error", c.in, b, p)
			}
			continue
		}
		if err != nil || b != c.bytes || p != c.percent {
			t.Errorf("parseDiskFloor(%q) = %d, %g, %v; want %d, %g", c.in, b, p, err, c.bytes, c.percent)
		}
	}
	c, err := FromEnv(env(map[string]string{"GITHUB_APP_ID": "1", "GITHUB_PRIVATE_KEY": pem, "DATABASE_URL": "postgres://u@h/db"}), Runner)
	if err != nil || c.DiskFloorBytes != 5<<30 || c.DiskFloorPercent != 0 || c.ImageMaxAge != 24*time.Hour {
		t.Fatalf("defaults: floor %d bytes %g%%, image max age %s, %v; want 5 GiB and 24h", c.DiskFloorBytes, c.DiskFloorPercent, c.ImageMaxAge, err)
	}
}

// withEnv is base with change applied ("" unsets a variable).
func withEnv(base, change map[string]string) func(string) string {
	m := map[string]string{}
	for k, v := range base {
		m[k] = v
	}
	for k, v := range change {
		m[k] = v
	}
	return env(m)
}

// TestBadValuesAreRefused: every variable a role reads refuses a bad value with an error that
// names it and says what it allows — for the App's commands, the runner's and the learner's tool.
func TestBadValuesAreRefused(t *testing.T) {
	t.Parallel()
	service := map[string]string{"GITHUB_APP_ID": "42", "GITHUB_PRIVATE_KEY": pem, "GITHUB_WEBHOOK_SECRET": "s", "DATABASE_URL": "postgres://u@h/db"}
	for _, role := range []Role{App, Runner, Provision, Migrate, AppHealth, RunnerHealth, Sandbox, Local, Learner} {
		if _, err := FromEnv(env(service), role); err != nil {
			t.Fatalf("role %d with a good environment: %v", role, err)
		}
	}
	cases := []struct {
		role   Role
		change map[string]string
		say    string
	}{
		{Provision, map[string]string{"HOLDFAST_INSTALLATION_ID": "acme"}, `HOLDFAST_INSTALLATION_ID="acme" is not a positive number`},
		{App, map[string]string{"HOLDFAST_PUBLIC_URL": "holdfast.example.com"}, `HOLDFAST_PUBLIC_URL="holdfast.example.com" is not an http:// or https:// URL`},
		{App, map[string]string{"HOLDFAST_LISTEN": "8080"}, `HOLDFAST_LISTEN="8080" must be HOST:PORT or :PORT`},
		{AppHealth, map[string]string{"HOLDFAST_LISTEN": "8080"}, `HOLDFAST_LISTEN="8080" must be HOST:PORT or :PORT`},
		{App, map[string]string{"HOLDFAST_ADMIN_TOKEN": "short"}, "HOLDFAST_ADMIN_TOKEN is shorter than 24 characters"},
		{App, map[string]string{"GITHUB_API_URL": "api.github.com"}, `GITHUB_API_URL="api.github.com" is not an absolute URL`},
		{Migrate, map[string]string{"DATABASE_URL": ""}, "DATABASE_URL is not set"},
		{Migrate, map[string]string{"DATABASE_URL": "mysql://x"}, "DATABASE_URL must be a postgres:// URL"},
		{RunnerHealth, map[string]string{"RUNNER_HEALTH_LISTEN": "9090"}, `RUNNER_HEALTH_LISTEN="9090" must be HOST:PORT or :PORT`},
		{Runner, map[string]string{"RUNNER_CONCURRENCY": "65"}, `RUNNER_CONCURRENCY="65" must be a whole number from 1 to 64`},
		{Runner, map[string]string{"HOLDFAST_HARD_CAP": "2 minutes"}, `HOLDFAST_HARD_CAP="2 minutes" must be a duration of at least 10s`},
		{Runner, map[string]string{"HOLDFAST_RECOVER_DELIVERIES_EVERY": "never"}, `HOLDFAST_RECOVER_DELIVERIES_EVERY="never" must be a duration of at least 1s, e.g. 2m, or off`},
		{Runner, map[string]string{"HOLDFAST_SKIP_HOST_GUARD": "yes"}, `HOLDFAST_SKIP_HOST_GUARD="yes" must be 1`},
		{Local, map[string]string{"HOLDFAST_SKIP_HOST_GUARD": "true"}, `HOLDFAST_SKIP_HOST_GUARD="true" must be 1`},
		{Sandbox, map[string]string{"HOLDFAST_BUILD_PIDS": "lots"}, `HOLDFAST_BUILD_PIDS="lots" must be a positive number of processes, or -1`},
		{Local, map[string]string{"HOLDFAST_BUILD_PIDS": "0"}, `HOLDFAST_BUILD_PIDS="0" must be a positive number`},
		{Runner, map[string]string{"HOLDFAST_BUILD_PIDS": "-2"}, `HOLDFAST_BUILD_PIDS="-2" must be a positive number`},
		{Sandbox, map[string]string{"HOLDFAST_BUILD_NETWORK": "host"}, `build network "host" (HOLDFAST_BUILD_NETWORK): use "fenced" (default) or "open"`},
		{Learner, map[string]string{"HOLDFAST_BUILD_ALLOW": "pypi.org,https://evil.example/"}, `"https://evil.example/" (HOLDFAST_BUILD_ALLOW): use host names`},
		{Runner, map[string]string{"HOLDFAST_NAMESPACE": "Team A"}, `sandbox namespace "Team A" (HOLDFAST_NAMESPACE): use 1 to 63 lowercase letters`},
		{Local, map[string]string{"HOLDFAST_PIP_INSTALL": "yes"}, `HOLDFAST_PIP_INSTALL="yes" must be 0`},
		{Learner, map[string]string{"HOLDFAST_IMAGES": "registry"}, `HOLDFAST_IMAGES="registry" must be official (from Docker Hub), local`},
	}
	for _, c := range cases {
		_, err := FromEnv(withEnv(service, c.change), c.role)
		if err == nil || !strings.Contains(err.Error(), c.say) {
			t.Errorf("role %d, %v: got %v, want an error saying %q", c.role, c.change, err, c.say)
		} else if n := strings.Count(err.Error(), "\n  - "); n != 1 {
			t.Errorf("role %d, %v: %d problems listed, want one (each said once):\n%v", c.role, c.change, n, err)
		}
	}
}

// TestRolesReadOnlyWhatTheyUse: a variable a role does not use never stops it (a learner's own
// DATABASE_URL, a runner's settings in `app migrate`'s environment), and what a role requires
// is only what it uses.
func TestRolesReadOnlyWhatTheyUse(t *testing.T) {
	t.Parallel()
	foreign := map[string]string{"DATABASE_URL": "mysql://mine", "GITHUB_APP_ID": "x", "RUNNER_CONCURRENCY": "0",
		"HOLDFAST_LISTEN": "nope", "RUNNER_HEALTH_LISTEN": "nope", "HOLDFAST_IMAGES": "nope", "HOLDFAST_BUILD_PIDS": "nope"}
	only := map[Role][]string{
		Migrate:      {"DATABASE_URL"},
		AppHealth:    {"HOLDFAST_LISTEN"},
		RunnerHealth: {"RUNNER_HEALTH_LISTEN"},
		Sandbox:      {"HOLDFAST_BUILD_PIDS"},
		Local:        {"HOLDFAST_BUILD_PIDS"},
		Learner:      {"HOLDFAST_BUILD_PIDS", "HOLDFAST_IMAGES"},
	}
	for role, reads := range only {
		_, err := FromEnv(env(foreign), role)
		if err == nil || strings.Count(err.Error(), "\n  - ") != len(reads) {
			t.Errorf("role %d: %v; want exactly %d problems, about %v", role, err, len(reads), reads)
			continue
		}
		for _, name := range reads {
			if !strings.Contains(err.Error(), name) {
				t.Errorf("role %d: %v; want it to name %s", role, err, name)
			}
		}
	}
	// The service's roles, with what they require set, ignore the other roles' variables:
	// compose gives `app serve` and `runner work` each its own environment.
	service := map[string]string{"GITHUB_APP_ID": "42", "GITHUB_PRIVATE_KEY": pem, "GITHUB_WEBHOOK_SECRET": "s", "DATABASE_URL": "postgres://u@h/db"}
	for role, others := range map[Role]map[string]string{
		App: {"RUNNER_CONCURRENCY": "0", "HOLDFAST_HARD_CAP": "1s", "HOLDFAST_POOL_SIZE": "99", "HOLDFAST_DISK_FLOOR": "lots",
			"HOLDFAST_IMAGE_MAX_AGE": "5s", "RUNNER_HEALTH_LISTEN": "nope", "HOLDFAST_BUILD_PIDS": "nope"},
		Runner: {"HOLDFAST_LISTEN": "nope", "HOLDFAST_ADMIN_TOKEN": "short", "HOLDFAST_INSTALLATION_ID": "acme"},
		Provision: {"HOLDFAST_LISTEN": "nope", "HOLDFAST_PUBLIC_URL": "nope", "HOLDFAST_RECONCILE_EVERY": "soon",
			"RUNNER_CONCURRENCY": "0", "RUNNER_HEALTH_LISTEN": "nope", "HOLDFAST_ADMIN_TOKEN": "short"},
	} {
		if _, err := FromEnv(withEnv(service, others), role); err != nil {
			t.Errorf("role %d with another role's variables wrong: %v; want them ignored", role, err)
		}
	}
	if c, err := FromEnv(env(nil), Learner); err != nil || c.DatabaseURL != "" {
		t.Fatalf("holdfast with an empty environment: %+v, %v", c, err)
	}
}

// TestDefaults: every field a role reads takes its documented default, and the sandbox's
// defaults differ on a learner's own machine (Local, Learner) as the README says; FromEnv and
// WithDefaults agree, and Given tells a default from a value asked for.
func TestDefaults(t *testing.T) {
	t.Parallel()
	c, err := FromEnv(env(map[string]string{"GITHUB_APP_ID": "1", "GITHUB_PRIVATE_KEY": pem, "DATABASE_URL": "postgres://x"}), Runner)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Role: Runner, AppID: 1, PrivateKey: c.PrivateKey, DatabaseURL: "postgres://x"}.WithDefaults()
	want.given = c.given
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("FromEnv's defaults differ from WithDefaults':\n%+v\n%+v", c, want)
	}
	for i, p := range [][2]any{
		{c.GitHubURL, DefaultGitHubURL}, {c.PublicURL, DefaultPublicURL}, {c.Graders, DefaultGraders},
		{c.HardCap, DefaultHardCap}, {c.HealthListen, DefaultHealthListen}, {c.Reconcile, DefaultReconcile},
		{c.RecoverDeliveries, DefaultRecoverDeliveries}, {c.ImageMaxAge, DefaultImageMaxAge}, {c.DiskFloorBytes, int64(DefaultDiskFloorBytes)},
		{c.PostgresImage, DefaultPostgresImage}, {c.RedisImage, DefaultRedisImage}, {c.AgentImage, DefaultAgentImage},
		{c.GoImage, DefaultGoImage}, {c.NodeImage, DefaultNodeImage}, {c.PythonImage, DefaultPythonImage}, {c.PipInstall, DefaultPipInstall},
		{c.Runtime, DefaultRuntime}, {c.Namespace, DefaultNamespace}, {c.BuildNetwork, DefaultBuildNetwork}, {c.BuildPids, int64(DefaultBuildPids)},
		{c.SkipHostGuard, false},
	} {
		if p[0] != p[1] {
			t.Errorf("runner default #%d is %v, want %v", i, p[0], p[1])
		}
	}
	if a, err := FromEnv(env(map[string]string{"GITHUB_APP_ID": "1", "GITHUB_PRIVATE_KEY": pem, "GITHUB_WEBHOOK_SECRET": "s", "DATABASE_URL": "postgres://x"}), App); err != nil || a.Listen != DefaultListen {
		t.Errorf("app's listen address by default: %q, %v; want %q", a.Listen, err, DefaultListen)
	}
	if e := c.Engine(); e.Runtime != "runsc" || e.Build.Pids != 256 || e.SkipHostGuard || e.BuildArgs["GO_IMAGE"] != "holdfast/golang:local" {
		t.Errorf("runner's engine %+v; want gVisor, 256 pids, the host guard and the local Go image", e)
	}

	l, err := FromEnv(env(nil), Local)
	if err != nil || l.Runtime != LocalRuntime || l.BuildPids != LocalBuildPids || !l.SkipHostGuard || l.Given("HOLDFAST_RUNTIME") {
		t.Fatalf("local defaults %+v, %v; want runc, no pids cap, no host guard, none given", l, err)
	}
	l, err = FromEnv(env(map[string]string{"HOLDFAST_RUNTIME": "runsc", "HOLDFAST_SKIP_HOST_GUARD": "0", "HOLDFAST_BUILD_PIDS": "256"}), Local)
	if err != nil || l.Runtime != "runsc" || l.BuildPids != 256 || l.SkipHostGuard || !l.Given("HOLDFAST_RUNTIME") || !l.Given("HOLDFAST_SKIP_HOST_GUARD") {
		t.Fatalf("local, the service's settings asked for: %+v, %v", l, err)
	}
	h, err := FromEnv(env(nil), Learner)
	if err != nil || h.PostgresImage != "" || h.AgentImage != "" || len(h.Engine().BuildArgs) != 0 || h.Runtime != LocalRuntime {
		t.Fatalf("holdfast's images must stay unset for the set it chooses: %+v, %v", h, err)
	}
	h, err = FromEnv(env(map[string]string{"HOLDFAST_GO_IMAGE": "golang:1.26", "HOLDFAST_POSTGRES_IMAGE": "postgres:16"}), Learner)
	if args := h.Engine().BuildArgs; err != nil || h.PostgresImage != "postgres:16" || len(args) != 1 || args["GO_IMAGE"] != "golang:1.26" {
		t.Fatalf("holdfast with two images named: %+v, build args %v, %v", h, args, err)
	}
}

// TestREADMEConfigurationTable: README.md's Configuration table names every variable FromEnv
// reads, with the defaults the constants hold.
func TestREADMEConfigurationTable(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(b), "\n## Configuration\n")
	section, _, _ = strings.Cut(section, "\n## ")
	defaults := map[string]string{} // variable → its row's default cell
	code := regexp.MustCompile("`([^`]*)`")
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || !strings.Contains(cells[1], "`") {
			continue
		}
		for _, m := range code.FindAllStringSubmatch(cells[1], -1) {
			defaults[m[1]] = cells[2]
		}
	}
	if len(defaults) < 30 {
		t.Fatalf("read %d variables from README's Configuration table; its layout changed?", len(defaults))
	}
	// Every variable any role reads is in the table.
	read := map[string]bool{}
	for _, role := range []Role{App, Runner, Provision, Migrate, AppHealth, RunnerHealth, Sandbox, Local, Learner} {
		FromEnv(func(k string) string { read[k] = true; return "" }, role)
	}
	for name := range read {
		if _, ok := defaults[name]; !ok {
			t.Errorf("README's Configuration table does not list %s", name)
		}
	}
	// Each default is written in its row's default cell, in backquotes.
	sameDuration := func(want time.Duration) func(string) bool {
		return func(v string) bool { d, err := time.ParseDuration(v); return err == nil && d == want }
	}
	for name, want := range map[string]any{
		"GITHUB_API_URL": DefaultGitHubURL, "HOLDFAST_PUBLIC_URL": DefaultPublicURL, "HOLDFAST_LISTEN": DefaultListen,
		"RUNNER_CONCURRENCY": strconv.Itoa(DefaultGraders), "RUNNER_HEALTH_LISTEN": DefaultHealthListen,
		"HOLDFAST_POOL_SIZE": strconv.Itoa(DefaultPoolSize),
		"HOLDFAST_HARD_CAP":  sameDuration(DefaultHardCap), "HOLDFAST_SHUTDOWN_GRACE": sameDuration(DefaultShutdownGrace), "HOLDFAST_RECONCILE_EVERY": sameDuration(DefaultReconcile),
		"HOLDFAST_RECOVER_DELIVERIES_EVERY": sameDuration(DefaultRecoverDeliveries), "HOLDFAST_IMAGE_MAX_AGE": sameDuration(DefaultImageMaxAge),
		"HOLDFAST_DISK_FLOOR":     func(v string) bool { n, _, err := parseDiskFloor(v); return err == nil && n == DefaultDiskFloorBytes },
		"HOLDFAST_POSTGRES_IMAGE": DefaultPostgresImage, "HOLDFAST_REDIS_IMAGE": DefaultRedisImage, "HOLDFAST_AGENT_IMAGE": DefaultAgentImage,
		"HOLDFAST_GO_IMAGE": DefaultGoImage, "HOLDFAST_NODE_IMAGE": DefaultNodeImage, "HOLDFAST_PYTHON_IMAGE": DefaultPythonImage,
		"HOLDFAST_PIP_INSTALL": DefaultPipInstall, "HOLDFAST_RUNTIME": DefaultRuntime, "HOLDFAST_NAMESPACE": DefaultNamespace,
		"HOLDFAST_BUILD_NETWORK": DefaultBuildNetwork, "HOLDFAST_BUILD_PIDS": strconv.Itoa(DefaultBuildPids),
	} {
		match, ok := want.(func(string) bool)
		if !ok {
			match = func(v string) bool { return v == want }
		}
		found := false
		for _, m := range code.FindAllStringSubmatch(defaults[name], -1) {
			found = found || match(m[1])
		}
		if !found {
			t.Errorf("README: %s's default is %q; the constant is %v", name, strings.TrimSpace(defaults[name]), want)
		}
	}
}

func TestPoolSize(t *testing.T) {
	t.Parallel()
	base := map[string]string{"GITHUB_APP_ID": "42", "GITHUB_PRIVATE_KEY": pem, "DATABASE_URL": "postgres://u@h/db"}
	for _, c := range []struct {
		value string
		want  int
	}{{"", DefaultPoolSize}, {"0", -1}, {"off", -1}, {"4", 4}, {"16", 16}} {
		got, err := FromEnv(withEnv(base, map[string]string{"HOLDFAST_POOL_SIZE": c.value}), Runner)
		if err != nil || got.PoolSize != c.want {
			t.Errorf("HOLDFAST_POOL_SIZE=%q: pool size %d, %v; want %d", c.value, got.PoolSize, err, c.want)
		}
	}
}
