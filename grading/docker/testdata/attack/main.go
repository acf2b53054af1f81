// An attacking submission: graded while another grading runs on the same engine, it tries to
// reach, read, signal and starve that other grading with everything an app can learn or guess,
// and reports what it got. It answers /healthz like a good app and nothing else a challenge asks.
//
//	POST /attack/start  body: a plan; runs one round, answers its report, then goes on attacking
//	                    (and, with flood set, floods the shared engine) until stopped or MaxSeconds
//	POST /attack/stop   stops, waits for every attacker, and answers the whole report
//	/app probe          runs one round of the plan in $ATTACK_PLAN and prints the report: the
//	                    test's control, run where the probes are allowed to succeed
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Plan is what to attack. Every list is bounded by the caller; the attack is bounded in time.
type Plan struct {
	Addrs      []string `json:"addrs"`      // host:port, connected to
	Names      []string `json:"names"`      // name:port, resolved, then each address connected to
	Subnets    []string `json:"subnets"`    // IPv4 prefixes whose first ScanHosts hosts are scanned
	ScanHosts  int      `json:"scan_hosts"` // at most 64
	ScanPorts  []int    `json:"scan_ports"`
	Pids       []int    `json:"pids"`    // the other grading's processes, as the host numbers them
	Kill       bool     `json:"kill"`    // SIGKILL them, and everything else this process may (kill -1); else signal 0
	Files      []string `json:"files"`   // read (the first 4 KiB)
	Sockets    []string `json:"sockets"` // unix sockets, connected to
	Flood      bool     `json:"flood"`
	MaxSeconds int      `json:"max_seconds"` // default and cap 120
}

// Report is what the attack got. Reached and ScanHits count successful connections.
type Report struct {
	Rounds   int                 `json:"rounds"`
	Dials    int                 `json:"dials"`
	Reached  map[string]int      `json:"reached"`
	Refused  map[string]string   `json:"refused"` // the last error of each address in Addrs and Names
	ScanHits map[string]int      `json:"scan_hits"`
	Resolved map[string][]string `json:"resolved"` // name → addresses (or the error)
	Files    map[string]string   `json:"files"`    // path → content, or "error: …"
	Sockets  map[string]string   `json:"sockets"`  // path → "ok" or the error
	Signals  map[string]string   `json:"signals"`  // pid → "ok", "own process" or the error
	KillAll  string              `json:"kill_all,omitempty"`
	Procs    []string            `json:"procs"` // pid and command line of every process this one sees
	Own      []string            `json:"own_subnets"`
	Flood    *Flood              `json:"flood,omitempty"`
}

// Flood is what the attack did to the shared engine and host.
type Flood struct {
	LogBytes    int64   `json:"log_bytes"`
	DNSQueries  int64   `json:"dns_queries"`
	DNSErrors   int64   `json:"dns_errors"`
	TmpBytes    int64   `json:"tmp_bytes"`
	TmpErr      string  `json:"tmp_err"`
	SpinSeconds float64 `json:"spin_seconds"`
}

func newReport() *Report {
	return &Report{Reached: map[string]int{}, Refused: map[string]string{}, ScanHits: map[string]int{},
		Resolved: map[string][]string{}, Files: map[string]string{}, Sockets: map[string]string{}, Signals: map[string]string{}}
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "probe" {
		var p Plan
		if err := json.Unmarshal([]byte(os.Getenv("ATTACK_PLAN")), &p); err != nil {
			fmt.Fprintln(os.Stderr, "ATTACK_PLAN:", err)
			os.Exit(2)
		}
		r := newReport()
		var mu sync.Mutex
		round(context.Background(), p, r, &mu)
		json.NewEncoder(os.Stdout).Encode(r)
		return
	}
	a := &attacker{}
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	http.HandleFunc("/attack/start", a.start)
	http.HandleFunc("/attack/stop", a.stop)
	http.ListenAndServe(":"+os.Getenv("PORT"), nil)
}

type attacker struct {
	mu     sync.Mutex
	report *Report
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (a *attacker) start(w http.ResponseWriter, r *http.Request) {
	var p Plan
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&p); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if p.MaxSeconds <= 0 || p.MaxSeconds > 120 {
		p.MaxSeconds = 120
	}
	a.mu.Lock()
	if a.report != nil {
		a.mu.Unlock()
		http.Error(w, "already attacking", http.StatusConflict)
		return
	}
	a.report = newReport()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(p.MaxSeconds)*time.Second)
	a.cancel = cancel
	a.mu.Unlock()
	if p.Flood {
		a.report.Flood = &Flood{}
		flood(ctx, &a.wg, a.report.Flood, &a.mu)
	}
	round(ctx, p, a.report, &a.mu)
	a.mu.Lock()
	first, _ := json.Marshal(a.report)
	a.mu.Unlock()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		for ctx.Err() == nil {
			round(ctx, p, a.report, &a.mu)
		}
	}()
	w.Write(first)
}

func (a *attacker) stop(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	cancel := a.cancel
	a.mu.Unlock()
	if cancel == nil {
		http.Error(w, "not attacking", http.StatusConflict)
		return
	}
	cancel()
	a.wg.Wait()
	a.mu.Lock()
	defer a.mu.Unlock()
	json.NewEncoder(w).Encode(a.report)
}

// round tries every target of the plan once.
func round(ctx context.Context, p Plan, r *Report, mu *sync.Mutex) {
	own := ownSubnets()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	dial := func(addr string, timeout time.Duration, hit func(error)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			d := net.Dialer{Timeout: timeout}
			c, err := d.DialContext(ctx, "tcp", addr)
			if err == nil {
				c.Close()
			}
			if ctx.Err() != nil && err != nil {
				return // stopped, not refused
			}
			mu.Lock()
			r.Dials++
			hit(err)
			mu.Unlock()
		}()
	}
	direct := func(key string) func(error) {
		return func(err error) {
			if err == nil {
				r.Reached[key]++
			} else {
				r.Refused[key] = err.Error()
			}
		}
	}
	for _, addr := range p.Addrs {
		dial(addr, time.Second, direct(addr))
	}
	var names sync.WaitGroup
	for _, name := range p.Names {
		host, port, err := net.SplitHostPort(name)
		if err != nil {
			continue
		}
		names.Add(1)
		go func() {
			defer names.Done()
			// Docker's DNS forwards a name it does not know upstream, which a sandbox cannot
			// reach: no answer, after a while.
			lctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			ips, err := net.DefaultResolver.LookupHost(lctx, host)
			cancel()
			if ctx.Err() != nil {
				return // stopped: no answer to record
			}
			mu.Lock()
			if err != nil {
				r.Resolved[host] = []string{"error: " + err.Error()}
			} else {
				r.Resolved[host] = ips
			}
			mu.Unlock()
			for _, ip := range ips {
				dial(net.JoinHostPort(ip, port), time.Second, direct(name+"@"+ip))
			}
		}()
	}
	hosts := min(max(p.ScanHosts, 0), 64)
	for _, s := range p.Subnets {
		pfx, err := netip.ParsePrefix(s)
		if err != nil || !pfx.Addr().Is4() {
			continue
		}
		ip := pfx.Masked().Addr()
		for range hosts {
			ip = ip.Next()
			if !pfx.Contains(ip) {
				break
			}
			for _, port := range p.ScanPorts {
				addr := net.JoinHostPort(ip.String(), strconv.Itoa(port))
				dial(addr, 400*time.Millisecond, func(err error) {
					if err == nil {
						r.ScanHits[addr]++
					}
				})
			}
		}
	}

	files := map[string]string{}
	for _, f := range p.Files {
		files[f] = readHead(f)
	}
	sockets := map[string]string{}
	for _, s := range p.Sockets {
		c, err := net.DialTimeout("unix", s, time.Second)
		if err == nil {
			c.Close()
		}
		sockets[s] = errText(err)
	}
	procs := processes()
	signals := map[string]string{}
	for _, pid := range p.Pids {
		key := strconv.Itoa(pid)
		if pid <= 1 || pid == os.Getpid() {
			signals[key] = "own process"
			continue
		}
		sig := syscall.Signal(0)
		if p.Kill {
			sig = syscall.SIGKILL
		}
		signals[key] = errText(syscall.Kill(pid, sig))
	}
	killAll := ""
	if p.Kill {
		killAll = errText(syscall.Kill(-1, syscall.SIGKILL))
	}
	names.Wait() // before wg.Wait: a resolved name adds dials
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	r.Rounds++
	for k, v := range files {
		r.Files[k] = v
	}
	for k, v := range sockets {
		r.Sockets[k] = v
	}
	for k, v := range signals {
		r.Signals[k] = v
	}
	r.KillAll = killAll
	r.Procs = r.Procs[:0]
	for pid, cmd := range procs {
		if len(r.Procs) < 64 {
			r.Procs = append(r.Procs, fmt.Sprintf("%d %s", pid, cmd))
		}
	}
	r.Own = own
}

// flood loads what every grading on the engine shares, each part bounded: the log stream
// dockerd reads (16 MiB), dockerd's embedded DNS server (5 000 queries, 10 s), this sandbox's CPU
// share (two spinning goroutines, 20 s at most) and /tmp's tmpfs (until it is full).
func flood(ctx context.Context, wg *sync.WaitGroup, f *Flood, mu *sync.Mutex) {
	add := func(fn func()) {
		wg.Add(1)
		go func() { defer wg.Done(); fn() }()
	}
	add(func() {
		line := []byte(strings.Repeat("f", 1023) + "\n")
		for i := 0; i < 16<<10 && ctx.Err() == nil; i++ {
			n, err := os.Stdout.Write(line)
			mu.Lock()
			f.LogBytes += int64(n)
			mu.Unlock()
			if err != nil {
				return
			}
		}
	})
	var queries, done, failures atomic.Int64
	start := time.Now()
	for range 32 {
		add(func() {
			names := []string{"postgres", "redis", "provider", "downstream"}
			for i := 0; queries.Add(1) <= 5000 && ctx.Err() == nil && time.Since(start) < 10*time.Second; i++ {
				lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				_, err := net.DefaultResolver.LookupHost(lctx, names[i%len(names)])
				cancel()
				done.Add(1)
				if err != nil {
					failures.Add(1)
				}
			}
			mu.Lock()
			f.DNSQueries, f.DNSErrors = done.Load(), failures.Load()
			mu.Unlock()
		})
	}
	add(func() {
		fh, err := os.Create("/tmp/flood")
		if err != nil {
			mu.Lock()
			f.TmpErr = err.Error()
			mu.Unlock()
			return
		}
		defer os.Remove("/tmp/flood")
		defer fh.Close()
		chunk := make([]byte, 1<<20)
		var n int64
		for n < 256<<20 && ctx.Err() == nil {
			w, err := fh.Write(chunk)
			n += int64(w)
			if err != nil {
				mu.Lock()
				f.TmpErr = err.Error()
				mu.Unlock()
				break
			}
		}
		mu.Lock()
		f.TmpBytes = n
		mu.Unlock()
		select { // hold it full a while, then give it back
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
		}
	})
	for range 2 {
		add(func() {
			start := time.Now()
			deadline := start.Add(20 * time.Second)
			x := 0
			for ctx.Err() == nil && time.Now().Before(deadline) {
				for i := 0; i < 1_000_000; i++ {
					x += i
				}
			}
			mu.Lock()
			f.SpinSeconds += time.Since(start).Seconds()
			mu.Unlock()
			_ = x
		})
	}
}

func readHead(path string) string {
	fh, err := os.Open(path)
	if err != nil {
		return "error: " + err.Error()
	}
	defer fh.Close()
	b := make([]byte, 4096)
	n, err := fh.Read(b)
	if n == 0 && err != nil && !errors.Is(err, io.EOF) {
		return "error: " + err.Error()
	}
	return string(b[:n])
}

// processes are the pids this process sees, with their command lines.
func processes() map[int]string {
	out := map[int]string{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		out[pid] = strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
	}
	return out
}

// ownSubnets are the IPv4 networks of this sandbox's interfaces.
func ownSubnets() []string {
	var out []string
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			pfx, err := netip.ParsePrefix(n.String())
			if err == nil {
				out = append(out, pfx.Masked().String())
			}
		}
	}
	return out
}

func errText(err error) string {
	if err == nil {
		return "ok"
	}
	if errors.Is(err, syscall.ESRCH) {
		return "no such process"
	}
	return err.Error()
}
