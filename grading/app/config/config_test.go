package config

import (
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
	c, err := FromEnv(env(good), App)
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
		{"hard cap", map[string]string{"HOLDFAST_HARD_CAP": "1s"}, Runner, "HOLDFAST_HARD_CAP"},
		{"health listen", map[string]string{"RUNNER_HEALTH_LISTEN": "9090"}, Runner, "RUNNER_HEALTH_LISTEN"},
		{"image max age", map[string]string{"HOLDFAST_IMAGE_MAX_AGE": "5s"}, Runner, "HOLDFAST_IMAGE_MAX_AGE"},
		{"disk floor", map[string]string{"HOLDFAST_DISK_FLOOR": "lots"}, Runner, `HOLDFAST_DISK_FLOOR="lots" must be a size`},
		{"disk floor share", map[string]string{"HOLDFAST_DISK_FLOOR": "150%"}, Runner, "below 100%"},
	}
	for _, c := range cases {
		m := map[string]string{}
		for k, v := range good {
			m[k] = v
		}
		for k, v := range c.change {
			m[k] = v
		}
		if _, err := FromEnv(env(m), c.role); err == nil || !strings.Contains(err.Error(), c.say) {
			t.Errorf("%s: got %v, want an error saying %q", c.name, err, c.say)
		}
	}
	if c.HealthListen != DefaultHealthListen {
		t.Fatalf("health address by default: %q, want %q", c.HealthListen, DefaultHealthListen)
	}
	for v, want := range map[string]string{"off": "", ":9191": ":9191", "0.0.0.0:9090": "0.0.0.0:9090"} {
		m := map[string]string{"RUNNER_HEALTH_LISTEN": v}
		for k, v := range good {
			m[k] = v
		}
		if c, err := FromEnv(env(m), Runner); err != nil || c.HealthListen != want {
			t.Errorf("RUNNER_HEALTH_LISTEN=%q: %q, %v; want %q", v, c.HealthListen, err, want)
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
		bytes   uint64
		percent float64
		bad     bool
	}{
		{in: "5GiB", bytes: 5 << 30},
		{in: "500 MiB", bytes: 500 << 20},
		{in: "20GB", bytes: 20e9},
		{in: "1073741824", bytes: 1 << 30},
		{in: "1.5GiB", bytes: 3 << 29},
		{in: "10%", percent: 10},
		{in: "off"},
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
