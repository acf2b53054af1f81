package chaos

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// repoRoot is the repository, from this package's directory.
const repoRoot = "../.."

// commands are the built `app` and `runner` binaries.
type commands struct{ app, runner string }

// buildCommands builds both commands as the test runs them: real binaries, so that they can be
// killed like processes in production.
func buildCommands(t *testing.T) commands {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", dir+"/", "./cmd/app", "./cmd/runner")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/app ./cmd/runner: %v\n%s", err, out)
	}
	return commands{app: filepath.Join(dir, "app"), runner: filepath.Join(dir, "runner")}
}

// logDir is where the processes' logs go: under $HOLDFAST_ARTIFACTS/chaos/<test> when set (the
// test command sets it, so a failure's logs outlive the run), else in the test's temporary
// directory.
func logDir(t *testing.T) string {
	t.Helper()
	base := os.Getenv("HOLDFAST_ARTIFACTS")
	if base == "" {
		return t.TempDir()
	}
	dir := filepath.Join(base, "chaos", t.Name())
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// proc is one of Holdfast's commands running as a real process. It can be killed, stopped and
// started again; every start appends to the same log.
type proc struct {
	t    *testing.T
	name string
	path string // the log
	args []string
	env  []string

	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{} // closed when the current process has exited
	expected bool          // the test ended it (kill, stop)
	from     int64         // the log's size when the current process started
}

func startProc(t *testing.T, dir, name string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, path: filepath.Join(dir, name+".log"), args: args, env: env}
	p.start()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("%s: warnings and errors (full log: %s)\n%s", name, p.path, p.problems(40))
		}
	})
	return p
}

// start starts the process (again).
func (p *proc) start() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	logf, err := os.OpenFile(p.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	defer logf.Close()
	fi, _ := logf.Stat()
	p.from = fi.Size()
	fmt.Fprintf(logf, "{\"msg\":\"=== started by the test\",\"time\":%q}\n", time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(p.args[0], p.args[1:]...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("start %s: %v", p.name, err)
	}
	p.cmd, p.expected = cmd, false
	exited := make(chan struct{})
	p.exited = exited
	go func() {
		cmd.Wait()
		close(exited)
	}()
}

// kill sends SIGKILL, as a crash, and waits for the process to be gone.
func (p *proc) kill() {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.expected = true
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

// stop sends SIGTERM, as an orderly shutdown, and waits (at most a minute and a half: a runner
// lets its gradings finish for 30 s, then hands them back) before it kills.
func (p *proc) stop() {
	p.t.Helper()
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.expected = true
	p.mu.Unlock()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(90 * time.Second):
		p.t.Errorf("%s did not stop within 90 s of SIGTERM; killing it", p.name)
		p.kill()
	}
}

// died says whether the process exited without the test ending it.
func (p *proc) died() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.exited:
		return !p.expected
	default:
		return false
	}
}

// logLine is the part of a JSON log line (log/slog) the test reads.
type logLine struct {
	Msg   string `json:"msg"`
	Level string `json:"level"`
	RunID int64  `json:"run_id"`
	SHA   string `json:"sha"`
}

// lines returns the log's JSON lines, of the current process only if current is set.
func (p *proc) lines(current bool) []logLine {
	p.mu.Lock()
	from := p.from
	p.mu.Unlock()
	f, err := os.Open(p.path)
	if err != nil {
		return nil
	}
	defer f.Close()
	if current {
		f.Seek(from, io.SeekStart)
	}
	var out []logLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l logLine
		if json.Unmarshal(sc.Bytes(), &l) == nil {
			out = append(out, l)
		}
	}
	return out
}

// logged says whether the current process logged msg.
func (p *proc) logged(msg string) bool {
	for _, l := range p.lines(true) {
		if l.Msg == msg {
			return true
		}
	}
	return false
}

// waitLogged waits until the current process logs msg, failing if it exits first.
func (p *proc) waitLogged(within time.Duration, msg string) {
	p.t.Helper()
	waitUntil(p.t, within, fmt.Sprintf("%s to log %q", p.name, msg), func() bool {
		if p.died() {
			p.t.Fatalf("%s exited before it logged %q:\n%s", p.name, msg, p.problems(40))
		}
		return p.logged(msg)
	})
}

// problems is the last n lines of the log that are not at level INFO or DEBUG.
func (p *proc) problems(n int) string {
	b, err := os.ReadFile(p.path)
	if err != nil {
		return err.Error()
	}
	var keep []string
	for _, line := range bytes.Split(b, []byte("\n")) {
		var l logLine
		if json.Unmarshal(line, &l) == nil && (l.Level == "INFO" || l.Level == "DEBUG") {
			continue
		}
		if len(bytes.TrimSpace(line)) > 0 {
			keep = append(keep, string(line))
		}
	}
	if len(keep) > n {
		keep = keep[len(keep)-n:]
	}
	return strings.Join(keep, "\n")
}

// waitUntil polls ok every quarter second until it holds, failing the test after within.
func waitUntil(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// freeAddr is a loopback address nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// get is one bounded GET: status and body, or 0 and the error.
func get(url string) (int, string) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, string(b)
}
