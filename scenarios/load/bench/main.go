// Command bench measures the load driver (scenarios/load) against wrk on the same target: a bare
// net/http server on loopback, in a child process of its own so that each generator's CPU time is
// its own.
//
//	go run ./scenarios/load/bench [-d 5s] [-rate 1000] [-conns 64]   # from the repository root
//
// It needs Debian's wrk (`apt-get install -y wrk`) and prints one markdown table on stdout
// (progress on stderr), all rows from one run:
//
//   - ceiling: the most answers per second each can get. Ours is open-loop, so it is offered far
//     more than it can send (200 000/s) with at most -conns requests in flight; the requests due
//     while all are out are dropped, not delayed, and counted. wrk is closed-loop: -conns
//     connections over 2 threads, each sending its next request when the last is answered.
//   - fixed rate: -rate requests per second. Ours sends on schedule; wrk (4.1, which has no rate
//     option) is paced with a Lua delay() of 10 ms per connection over 10 connections, which is
//     how it is usually slowed, and stays closed-loop: it times each request from its actual send.
//   - fixed rate, stall: the same, against a server that freezes for 1 s once, 1 s into the run.
//
// wrk sends closed-loop, but before it prints (and before a script's done() reads them) it
// corrects its latency histogram after the fact (stats_correct in its stats.c): every sample
// longer than the run's mean interval per connection adds synthetic samples for the requests the
// connection would have sent meanwhile. Its latency columns are those corrected estimates; its
// answer count is what it really sent, so the load the server saw during a stall was lighter.
// Ours records each scheduled request's real wait, and its send lag says how late the driver
// itself was (the machine's scheduling delays count against the service, conservatively).
//
// CPU is user + system seconds of the generator's process (getrusage: ours of this process,
// wrk's of its child) and of the server (/proc/PID/stat), per 10 000 answers. The machine is
// shared, so the load average before and after is printed beside the table.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios/load"
)

func main() {
	serve := flag.Bool("serve", false, "internal: run the bare server and print its address")
	dur := flag.Duration("d", 5*time.Second, "length of each measured run, whole seconds, at least 2s")
	rate := flag.Float64("rate", 1000, "the fixed, moderate rate (requests/s)")
	conns := flag.Int("conns", 64, "connections (wrk) and requests in flight (ours) for the ceiling")
	flag.Parse()
	if *serve {
		if err := runServer(); err != nil {
			fmt.Fprintln(os.Stderr, "bench server:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *dur, *rate, *conns); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// runServer is the target: a bare net/http server answering "ok" on loopback. A path under
// /stall/ freezes every request on that path for 1 s once, 1 s after its first request (each
// distinct path has its own freeze, so each tool gets one).
func runServer() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	var mu sync.Mutex
	type freeze struct{ first, until time.Time }
	stalls := map[string]*freeze{}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	mux.HandleFunc("/stall/", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		f := stalls[r.URL.Path]
		now := time.Now()
		if f == nil {
			f = &freeze{first: now}
			stalls[r.URL.Path] = f
		}
		if f.until.IsZero() && now.Sub(f.first) >= time.Second {
			f.until = now.Add(time.Second)
		}
		wait := f.until.Sub(now)
		mu.Unlock()
		if wait > 0 {
			time.Sleep(wait)
		}
		w.Write([]byte("ok"))
	})
	fmt.Println(ln.Addr())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return srv.Serve(ln)
}

// row is one line of the table.
type row struct {
	test, tool, model        string
	answers                  int
	achieved                 float64
	p50, p90, p99, p999, max time.Duration
	errors                   string
	cpuGen, cpuServer        float64 // seconds per 10 000 answers
	note                     string
}

func run(ctx context.Context, dur time.Duration, rate float64, conns int) error {
	if dur < 2*time.Second || dur%time.Second != 0 {
		// The freeze rows freeze the server 1 s into the run, for 1 s; wrk takes whole seconds.
		return fmt.Errorf("-d %v: give whole seconds, at least 2s (the server freezes 1 s into the run, for 1 s)", dur)
	}
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		return errors.New("wrk is not installed: apt-get install -y wrk (the comparison needs it)")
	}
	before := loadavg()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	server := exec.CommandContext(ctx, self, "-serve")
	server.Stderr = os.Stderr
	out, err := server.StdoutPipe()
	if err != nil {
		return err
	}
	if err := server.Start(); err != nil {
		return fmt.Errorf("start the server: %w", err)
	}
	defer func() { server.Process.Kill(); server.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return fmt.Errorf("read the server's address: %w", err)
	}
	base := "http://" + strings.TrimSpace(line)
	serverCPU := func() float64 { return procCPU(server.Process.Pid) }
	tmp, err := os.MkdirTemp("", "loadbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	script := filepath.Join(tmp, "pace.lua")
	if err := os.WriteFile(script, []byte(paceLua), 0o644); err != nil {
		return err
	}

	progress := func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }
	progress("server at %s; warming up", base)
	if _, err := load.Run(ctx, load.Config{Target: base, Rate: 1000, Duration: time.Second}); err != nil {
		return err
	}

	ours := func(test, path string, cfg load.Config, note string) (row, error) {
		progress("ours: %s", test)
		cfg.Target, cfg.Request = base, load.Request{Path: path}
		s0, c0 := serverCPU(), selfCPU()
		rep, err := load.Run(ctx, cfg)
		if err != nil {
			return row{}, err
		}
		gen, srv := selfCPU()-c0, serverCPU()-s0
		return row{test: test, tool: "scenarios/load", model: "open loop", answers: rep.OK, achieved: rep.Achieved,
			p50: rep.Latency.P50, p90: rep.Latency.P90, p99: rep.Latency.P99, p999: rep.Latency.P999, max: rep.Latency.Max,
			errors: rep.Errors.String(), cpuGen: per10k(gen, rep.OK), cpuServer: per10k(srv, rep.OK),
			note: fmt.Sprintf("%s; %d sent; send lag p50 %s, p99 %s", note, rep.Sent, ms(rep.Lag.P50), ms(rep.Lag.P99))}, nil
	}
	theirs := func(test, path string, args []string, note string) (row, error) {
		progress("wrk: %s", test)
		args = append(append(args, "-d", fmt.Sprintf("%ds", int(dur.Seconds())), "-s", script), base+path)
		cmd := exec.CommandContext(ctx, wrk, args...)
		s0 := serverCPU()
		outb, err := cmd.Output()
		if err != nil {
			return row{}, fmt.Errorf("wrk %s: %w", strings.Join(args, " "), err)
		}
		srv := serverCPU() - s0
		r, err := parseWrk(string(outb))
		if err != nil {
			return row{}, err
		}
		gen := cmd.ProcessState.UserTime().Seconds() + cmd.ProcessState.SystemTime().Seconds()
		r.test, r.tool, r.model, r.note = test, "wrk 4.1", "closed loop", note
		r.cpuGen, r.cpuServer = per10k(gen, r.answers), per10k(srv, r.answers)
		return r, nil
	}

	var rows []row
	add := func(r row, err error) error {
		if err == nil {
			rows = append(rows, r)
		}
		return err
	}
	pause := func() { time.Sleep(time.Second) }
	if err := add(ours("ceiling", "/", load.Config{Rate: 200_000, Duration: dur, MaxInFlight: conns, Timeout: 2 * time.Second},
		fmt.Sprintf("offered 200 000/s, ≤ %d in flight", conns))); err != nil {
		return err
	}
	pause()
	if err := add(theirs("ceiling", "/", []string{"-t", "2", "-c", strconv.Itoa(conns), "--timeout", "2s"},
		fmt.Sprintf("2 threads × %d connections, no delay", conns))); err != nil {
		return err
	}
	pause()
	fixed := fmt.Sprintf("%.0f/s", rate)
	if err := add(ours(fixed, "/", load.Config{Rate: rate, Duration: dur, Timeout: 2 * time.Second}, "on schedule")); err != nil {
		return err
	}
	pause()
	paced := []string{"-t", "1", "-c", "10", "--timeout", "2s", "-H", "X-Pace: " + strconv.Itoa(int(10*1000/rate))}
	if err := add(theirs(fixed, "/", paced, fmt.Sprintf("10 connections, delay() %.0f ms each", 10*1000/rate))); err != nil {
		return err
	}
	pause()
	if err := add(ours(fixed+", server freezes 1 s once", "/stall/ours", load.Config{Rate: rate, Duration: dur, Timeout: 3 * time.Second, MaxInFlight: 4096}, "on schedule")); err != nil {
		return err
	}
	pause()
	if err := add(theirs(fixed+", server freezes 1 s once", "/stall/wrk", append(paced[:len(paced):len(paced)], "--timeout", "3s"),
		fmt.Sprintf("10 connections, delay() %.0f ms each", 10*1000/rate))); err != nil {
		return err
	}
	after := loadavg()
	printTable(rows, before, after, dur)
	return nil
}

// paceLua makes wrk wait the X-Pace header's milliseconds (0 when absent) on each connection
// before its next request, and prints its latency percentiles in microseconds.
const paceLua = `
local pace = 0
init = function(args)
  local h = wrk.headers["X-Pace"]
  if h then pace = tonumber(h) end
end
delay = function() return pace end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("HOLDFAST %d %d %d %d %d %d %d %d %d %d %d %d\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
`

var wrkLine = regexp.MustCompile(`(?m)^HOLDFAST ((?:\d+ ?)+)$`)

// parseWrk reads the line paceLua's done() prints.
func parseWrk(out string) (row, error) {
	m := wrkLine.FindStringSubmatch(out)
	if m == nil {
		return row{}, fmt.Errorf("wrk printed no HOLDFAST line:\n%s", out)
	}
	var f []int64
	for _, s := range strings.Fields(m[1]) {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return row{}, err
		}
		f = append(f, n)
	}
	us := func(n int64) time.Duration { return time.Duration(n) * time.Microsecond }
	requests, elapsed := int(f[0]), us(f[1])
	errs := load.Errors{Connection: int(f[7] + f[8] + f[9]), Status: int(f[10]), Timeout: int(f[11])}
	answers := requests - errs.Total()
	return row{answers: answers, achieved: float64(answers) / elapsed.Seconds(),
		p50: us(f[2]), p90: us(f[3]), p99: us(f[4]), p999: us(f[5]), max: us(f[6]), errors: errs.String()}, nil
}

func per10k(cpu float64, answers int) float64 {
	if answers == 0 {
		return 0
	}
	return cpu / float64(answers) * 10_000
}

// selfCPU is this process's user + system CPU seconds.
func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return tv(ru.Utime) + tv(ru.Stime)
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

// procCPU is a process's user + system CPU seconds from /proc/PID/stat (fields 14 and 15, in
// clock ticks of 1/100 s).
func procCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:]) // after "(comm)": field 3 onwards
	if len(fields) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(fields[11], 64)
	st, _ := strconv.ParseFloat(fields[12], 64)
	return (ut + st) / 100
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:3], " ")
}

func ms(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/1e3)
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func printTable(rows []row, before, after string, dur time.Duration) {
	fmt.Printf("Load average (1, 5, 15 min) before: %s; after: %s. Each run %v; %d cores.\n\n", before, after, dur, runtime.NumCPU())
	fmt.Println("| test | generator | model | answers | achieved/s | p50 | p90 | p99 | p99.9 | max | errors | generator CPU s / 10k | server CPU s / 10k | how |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		fmt.Printf("| %s | %s | %s | %d | %.0f | %s | %s | %s | %s | %s | %s | %.2f | %.2f | %s |\n", r.test, r.tool, r.model, r.answers, r.achieved,
			ms(r.p50), ms(r.p90), ms(r.p99), ms(r.p999), ms(r.max), r.errors, r.cpuGen, r.cpuServer, r.note)
	}
}
