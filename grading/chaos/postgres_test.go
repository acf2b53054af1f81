package chaos

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// cluster is a Postgres cluster of the test's own, on a port of its own: the chaos test restarts
// and stops it, which the suite's shared Postgres (HOLDFAST_TEST_DATABASE_URL, deploy/services.sh)
// must never be, since other packages use it meanwhile. It runs as user postgres when the test
// runs as root (initdb refuses root), and is removed when the test ends.
type cluster struct {
	t    *testing.T
	bin  string // the PostgreSQL bin directory
	dir  string // the cluster's parent directory: data/, the log, the socket
	port int
	URL  string
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(bins) == 0 {
		msg := "no PostgreSQL binaries in /usr/lib/postgresql (bash deploy/services.sh installs them)"
		if os.Getenv("HOLDFAST_REQUIRE_SERVICES") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	sort.Strings(bins)
	dir, err := os.MkdirTemp("", "holdfast-chaos-pg-") // not t.TempDir: user postgres must reach it
	if err != nil {
		t.Fatal(err)
	}
	_, portStr, _ := strings.Cut(freeAddr(t), ":")
	port, _ := strconv.Atoi(portStr)
	c := &cluster{t: t, bin: filepath.Dir(bins[len(bins)-1]), dir: dir, port: port,
		URL: fmt.Sprintf("postgres://holdfast@127.0.0.1:%d/holdfast?sslmode=disable", port)}
	t.Cleanup(func() {
		c.pg("pg_ctl", "-D", c.data(), "-m", "immediate", "-w", "-t", "30", "stop") // its error: not running
		os.RemoveAll(dir)
	})
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("run as root, the cluster needs user postgres: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := c.pg("initdb", "-D", c.data(), "-U", "holdfast", "--auth=trust", "--no-sync"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	c.Start()
	if out, err := c.pg("createdb", "-h", "127.0.0.1", "-p", portStr, "-U", "holdfast", "holdfast"); err != nil {
		t.Fatalf("createdb: %v\n%s", err, out)
	}
	return c
}

func (c *cluster) data() string { return filepath.Join(c.dir, "data") }

// pg runs one of the cluster's programs (as user postgres when root), its output in a file rather
// than a pipe: pg_ctl's server must not inherit a descriptor the test waits on. At most a minute.
func (c *cluster) pg(prog string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	argv := append([]string{filepath.Join(c.bin, prog)}, args...)
	if os.Geteuid() == 0 {
		argv = append([]string{"runuser", "-u", "postgres", "--"}, argv...)
	}
	out, err := os.CreateTemp("", "holdfast-chaos-pg-out-")
	if err != nil {
		return "", err
	}
	defer os.Remove(out.Name())
	defer out.Close()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Dir = c.dir
	err = cmd.Run()
	b, _ := os.ReadFile(out.Name())
	return string(b), err
}

// Start starts the cluster and waits until it accepts connections.
func (c *cluster) Start() {
	c.t.Helper()
	opts := fmt.Sprintf("-h 127.0.0.1 -p %d -k %s -c fsync=off -c max_connections=200", c.port, c.dir)
	if out, err := c.pg("pg_ctl", "-D", c.data(), "-l", filepath.Join(c.dir, "server.log"), "-w", "-t", "30", "-o", opts, "start"); err != nil {
		c.t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, c.serverLog())
	}
}

// Stop stops it as an operator would (fast: sessions are ended, nothing is lost).
func (c *cluster) Stop() {
	c.t.Helper()
	if out, err := c.pg("pg_ctl", "-D", c.data(), "-m", "fast", "-w", "-t", "30", "stop"); err != nil {
		c.t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
}

// Restart stops and starts it, every connection ending.
func (c *cluster) Restart() {
	c.t.Helper()
	c.Stop()
	c.Start()
}

func (c *cluster) serverLog() string {
	b, _ := os.ReadFile(filepath.Join(c.dir, "server.log"))
	return string(b)
}
