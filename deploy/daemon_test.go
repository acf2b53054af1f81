// Package deploy holds the scripts that set up a grading host; its tests run them.
package deploy

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// heldFiles opens what a caller of the scripts typically holds beyond 0-2 (a lock file and the
// write end of a pipe someone reads until EOF) and returns them with the names their
// descriptors show in /proc/PID/fd.
func heldFiles(t *testing.T) (files []*os.File, names []string) {
	t.Helper()
	lock, err := os.Create(filepath.Join(t.TempDir(), "caller.lock"))
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lock.Close(); r.Close(); w.Close() })
	var st syscall.Stat_t
	if err := syscall.Fstat(int(w.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	return []*os.File{lock, w}, []string{lock.Name(), fmt.Sprintf("pipe:[%d]", st.Ino)}
}

// checkFDs fails if process pid holds any of names.
func checkFDs(t *testing.T, what string, pid int, names []string) {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("%s's descriptors: %v", what, err)
	}
	var have []string
	for _, e := range ents {
		target, _ := os.Readlink(filepath.Join(dir, e.Name()))
		have = append(have, e.Name()+" → "+target)
		for _, n := range names {
			if target == n {
				t.Errorf("%s (pid %d) inherited the caller's %s as fd %s", what, pid, n, e.Name())
			}
		}
	}
	t.Logf("%s (pid %d) holds: %s", what, pid, strings.Join(have, ", "))
}

// TestPostgresStartsWithoutCallersFDs starts a cluster of its own with deploy/services.sh from a
// process holding a lock and a pipe: the postmaster must hold neither.
func TestPostgresStartsWithoutCallersFDs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Postgres cluster; skipped in -short mode")
	}
	if bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl"); len(bins) == 0 {
		msg := "no PostgreSQL in /usr/lib/postgresql (bash deploy/services.sh installs it)"
		if os.Getenv("HOLDFAST_REQUIRE_SERVICES") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	parent, err := os.MkdirTemp("", "holdfast-fd-pg-") // not t.TempDir: user postgres must reach it
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(parent, 0o755)
	dir := filepath.Join(parent, "pg")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	t.Cleanup(func() {
		bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
		args := []string{bins[0], "-D", dir, "-m", "immediate", "-w", "stop"}
		if os.Geteuid() == 0 {
			args = append([]string{"runuser", "-u", "postgres", "--"}, args...)
		}
		exec.Command(args[0], args[1:]...).Run()
		os.RemoveAll(parent)
	})

	files, names := heldFiles(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "services.sh")
	cmd.Env = append(os.Environ(), "HOLDFAST_PG_PORT="+strconv.Itoa(port), "HOLDFAST_PG_DIR="+dir)
	cmd.ExtraFiles = files
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("deploy/services.sh: %v\n%s", err, out.String())
	}
	b, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		t.Fatalf("no postmaster.pid after deploy/services.sh: %v\n%s", err, out.String())
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil {
		t.Fatal(err)
	}
	checkFDs(t, "postgres", pid, names)
}

// TestDaemonStartClosesCallersFDs runs deploy/close-fds.sh's close_fds — what bootstrap.sh's and
// second-engine.sh's dockerd starts and services.sh's postgres start run — before a stand-in
// daemon (sleep): it must hold nothing of its caller's beyond 0-2.
func TestDaemonStartClosesCallersFDs(t *testing.T) {
	script := `set -eu
source close-fds.sh
type close_fds >/dev/null
(
	close_fds
	exec setsid nohup sleep 30 >/dev/null 2>&1 </dev/null
) &
echo $!`
	files, names := heldFiles(t)
	cmd := exec.Command("bash", "-c", script)
	cmd.ExtraFiles = files
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("start the stand-in daemon: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("pid %q: %v", out, err)
	}
	defer syscall.Kill(pid, syscall.SIGKILL)
	// Until the subshell has closed what it closes and exec'd the daemon: a fixed sleep reads
	// the subshell itself on a loaded machine, still holding what it is about to close.
	comm := fmt.Sprintf("/proc/%d/comm", pid)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		b, err := os.ReadFile(comm)
		if strings.TrimSpace(string(b)) == "sleep" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d did not become the stand-in daemon (sleep) within 10 s: %s is %q, %v", pid, comm, b, err)
		}
	}
	checkFDs(t, "the daemon", pid, names)
}
