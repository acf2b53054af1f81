package load

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Request is what the driver sends, relative to Config.Target.
type Request struct {
	Method string // default GET
	Path   string // default "/"
	Header http.Header
	Body   []byte
}

// Bounds the driver holds every run to, whatever its config says.
const (
	// MaxDuration caps one run's sending time.
	MaxDuration = 10 * time.Minute
	// MaxRate caps the offered rate (requests per second).
	MaxRate = 1_000_000
	// maxAnswerBody is how much of an answer is read; the rest is dropped with the connection.
	maxAnswerBody = 1 << 20
)

// Config is one run at one rate.
type Config struct {
	// Target is the service's base URL, http or https, on loopback ("localhost", 127.0.0.0/8,
	// ::1) or a private address (a sandbox's network): the driver refuses anything else.
	Target string
	// Request is sent each time, unless Build is set.
	Request Request
	// Build, if set, returns request i (counting from 0) instead of Request, e.g. with a fresh
	// idempotency key. It is called on the sending schedule, so it must be quick.
	Build func(i int) Request
	// Rate is the arrival rate in requests per second, > 0 and ≤ MaxRate.
	Rate float64
	// Duration is how long requests are started, > 0 and ≤ MaxDuration. The run then waits for
	// the ones in flight, at most Timeout more.
	Duration time.Duration
	// MaxRequests caps how many requests are started (default, and at most: Rate × Duration).
	MaxRequests int
	// Timeout bounds each request from when it is sent (default 2 s).
	Timeout time.Duration
	// MaxInFlight caps the requests outstanding at once (default 1024). A request due while
	// that many are outstanding is not sent and counts as Errors.Dropped: the schedule is never
	// delayed to wait for a slot.
	MaxInFlight int
}

// Errors counts the requests that did not get a 2xx answer, by what went wrong.
type Errors struct {
	Status     int // answered, but not 2xx (Report.Statuses has the codes)
	Timeout    int // no answer within Config.Timeout
	Connection int // refused, reset, closed before an answer
	Dropped    int // never sent: MaxInFlight requests were already outstanding
	// Invalid counts requests Build returned that could not be sent at all (a bad method or
	// path): the caller's mistake, not the service's, but counted so that it cannot pass unseen.
	Invalid int
}

// Total is every failed request.
func (e Errors) Total() int { return e.Status + e.Timeout + e.Connection + e.Dropped + e.Invalid }

// String lists the non-zero kinds, e.g. "3 status, 1 timeout"; "none" when there are none.
func (e Errors) String() string {
	var parts []string
	for _, k := range []struct {
		n    int
		name string
	}{{e.Status, "status"}, {e.Timeout, "timeout"}, {e.Connection, "connection"}, {e.Dropped, "dropped"}, {e.Invalid, "invalid"}} {
		if k.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", k.n, k.name))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// Report is what one run measured.
type Report struct {
	// Rate is the offered rate; Sent how many requests were sent (with Errors.Dropped, every one
	// the schedule held unless Stopped says otherwise); OK how many got a 2xx answer.
	Rate     float64
	Sent, OK int
	Errors   Errors
	Statuses map[int]int // every answer's status code and how many
	// Latency is each sent request's time from its intended start (its place in the schedule,
	// not when it was actually sent) to its answer or failure.
	Latency Summary
	// Lag is how late the driver itself sent each request (actual send − intended start): a
	// large lag means the generator, not the service, was the limit.
	Lag Summary
	// Elapsed runs from the first intended start to the last answer or failure.
	Elapsed time.Duration
	// Achieved is the rate the service actually served: 2xx answers per second between the first
	// and the last of them ((OK − 1) ÷ that span; 0 with fewer than two). Under its capacity it
	// matches Rate; over it, it is the capacity.
	Achieved float64
	// Stopped says why sending ended early ("" if the schedule ran out): "max requests",
	// "context canceled".
	Stopped string
	// PeakInFlight is the most requests outstanding at once.
	PeakInFlight int
}

// ErrorRate is the share of due requests that failed or were never sent.
func (r *Report) ErrorRate() float64 {
	if r.Sent+r.Errors.Dropped == 0 {
		return 0
	}
	return float64(r.Errors.Total()) / float64(r.Sent+r.Errors.Dropped)
}

// validate checks cfg and fills in its defaults, once, before anything is sent.
func (cfg *Config) validate() (*url.URL, error) {
	u, err := url.Parse(cfg.Target)
	if err != nil {
		return nil, fmt.Errorf("load: target %q is not a URL: %w", cfg.Target, err)
	}
	if err := AllowedTarget(u); err != nil {
		return nil, err
	}
	switch {
	case !(cfg.Rate > 0 && cfg.Rate <= MaxRate):
		return nil, fmt.Errorf("load: rate %v requests/s is out of range: give one above 0 and at most %d", cfg.Rate, MaxRate)
	case cfg.Duration <= 0 || cfg.Duration > MaxDuration:
		return nil, fmt.Errorf("load: duration %v is out of range: give one above 0 and at most %v", cfg.Duration, MaxDuration)
	case cfg.MaxRequests < 0 || cfg.Timeout < 0 || cfg.MaxInFlight < 0:
		return nil, fmt.Errorf("load: max requests (%d), timeout (%v) and max in flight (%d) cannot be negative",
			cfg.MaxRequests, cfg.Timeout, cfg.MaxInFlight)
	}
	due := int(cfg.Rate * cfg.Duration.Seconds())
	if due < 1 {
		return nil, fmt.Errorf("load: %v requests/s for %v schedules no request: raise the rate or the duration", cfg.Rate, cfg.Duration)
	}
	if cfg.MaxRequests == 0 || cfg.MaxRequests > due {
		cfg.MaxRequests = due
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.MaxInFlight == 0 {
		cfg.MaxInFlight = 1024
	}
	if _, err := http.NewRequest(cmp.Or(cfg.Request.Method, http.MethodGet), u.String(), nil); err != nil {
		return nil, fmt.Errorf("load: the request cannot be sent: %w", err)
	}
	return u, nil
}

// AllowedTarget enforces the network rule: the driver reaches only loopback ("localhost" or a
// loopback address) and private addresses (the sandboxes' networks), over http or https. It
// refuses other host names rather than resolve them, so a name cannot point it elsewhere.
func AllowedTarget(u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("load: target %q: the scheme must be http or https", u.String())
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("load: target %q: give an IP address or localhost, not a host name (the driver reaches only loopback and the sandboxes' private networks)", u.String())
	}
	if !allowedAddr(addr) {
		return fmt.Errorf("load: target %q is neither loopback nor a private address: the driver only loads the machine's own services and the sandboxes", u.String())
	}
	return nil
}

func allowedAddr(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsLoopback() || a.IsPrivate()
}

// newClient is a run's client, maxInFlight idle connections: it dials only allowed addresses
// (so "localhost" resolving somewhere odd is refused too) and never follows a redirect.
func newClient(maxInFlight int, timeout time.Duration) *http.Client {
	dialer := &net.Dialer{Timeout: timeout, Control: func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil || !allowedAddr(ap.Addr()) {
			return fmt.Errorf("load: refusing to dial %s: neither loopback nor private", address)
		}
		return nil
	}}
	return &http.Client{
		Transport: &http.Transport{DialContext: dialer.DialContext, MaxIdleConns: maxInFlight,
			MaxIdleConnsPerHost: maxInFlight, DisableCompression: true, MaxResponseHeaderBytes: 1 << 20,
			IdleConnTimeout: 30 * time.Second},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Run sends cfg.Rate requests per second for cfg.Duration (at most cfg.MaxRequests), each at
// its scheduled moment, waits for the ones in flight, and reports what came back. Cancelling ctx
// stops the sending; requests already sent still get their Timeout. Its error is
// for a bad config or a cancelled ctx before anything was sent; how the service behaved, even
// if it never answered, is in the Report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	base, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("load: run at %v requests/s: %w", cfg.Rate, err)
	}
	client := newClient(cfg.MaxInFlight, cfg.Timeout)
	defer client.CloseIdleConnections()
	r := &run{cfg: cfg, base: strings.TrimSuffix(base.String(), "/"), client: client,
		slots: make(chan struct{}, cfg.MaxInFlight), statuses: map[int]int{}}
	return r.drive(ctx), nil
}

// run is one Run's state while it sends.
type run struct {
	cfg    Config
	base   string
	client *http.Client
	slots  chan struct{} // one per outstanding request

	latency, lag Histogram

	mu              sync.Mutex // guards ok, errs, statuses and the times below
	ok              int
	errs            Errors
	statuses        map[int]int
	last            time.Time // last answer or failure
	firstOK, lastOK time.Time
}

func (r *run) drive(ctx context.Context) *Report {
	rep := &Report{Rate: r.cfg.Rate}
	interval := float64(time.Second) / r.cfg.Rate
	start := time.Now()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var wg sync.WaitGroup
	sent, dropped, peak := 0, 0, 0 // the sending loop's own counts
	for i := 0; ; i++ {
		due := start.Add(time.Duration(float64(i) * interval))
		if due.Sub(start) >= r.cfg.Duration {
			break
		}
		if i >= r.cfg.MaxRequests {
			rep.Stopped = "max requests"
			break
		}
		if wait := time.Until(due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				timer.Stop()
			}
		}
		if ctx.Err() != nil {
			rep.Stopped = ctx.Err().Error()
			break
		}
		select {
		case r.slots <- struct{}{}:
		default:
			dropped++
			continue
		}
		peak = max(peak, len(r.slots))
		req := r.cfg.Request
		if r.cfg.Build != nil {
			req = r.cfg.Build(i)
		}
		sent++
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-r.slots }()
			r.send(ctx, req, due)
		}()
	}
	wg.Wait() // each request is bounded by Timeout
	rep.Sent, rep.PeakInFlight = sent, peak
	r.mu.Lock()
	rep.OK, rep.Errors, rep.Statuses = r.ok, r.errs, r.statuses
	rep.Errors.Dropped = dropped
	if !r.last.IsZero() {
		rep.Elapsed = r.last.Sub(start)
	}
	if span := r.lastOK.Sub(r.firstOK); rep.OK >= 2 && span > 0 {
		rep.Achieved = float64(rep.OK-1) / span.Seconds()
	}
	r.mu.Unlock()
	rep.Latency, rep.Lag = r.latency.Summary(), r.lag.Summary()
	return rep
}

// send makes one request due at the intended moment and records how it went.
func (r *run) send(ctx context.Context, req Request, intended time.Time) {
	r.lag.Record(time.Since(intended))
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.Timeout)
	defer cancel()
	kind, status := r.do(ctx, req)
	end := time.Now()
	r.latency.Record(end.Sub(intended))
	r.mu.Lock()
	defer r.mu.Unlock()
	if end.After(r.last) {
		r.last = end
	}
	if status != 0 {
		r.statuses[status]++
	}
	switch kind {
	case "":
		r.ok++
		if r.firstOK.IsZero() || end.Before(r.firstOK) {
			r.firstOK = end
		}
		if end.After(r.lastOK) {
			r.lastOK = end
		}
	case "status":
		r.errs.Status++
	case "timeout":
		r.errs.Timeout++
	case "invalid":
		r.errs.Invalid++
	default:
		r.errs.Connection++
	}
}

// do sends req and reads its answer; kind is "" for a 2xx, else "status", "timeout",
// "connection" or "invalid".
func (r *run) do(ctx context.Context, req Request) (kind string, status int) {
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	path := req.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	var body io.Reader
	if req.Body != nil {
		body = bytes.NewReader(req.Body)
	}
	hr, err := http.NewRequestWithContext(ctx, method, r.base+path, body)
	if err != nil {
		return "invalid", 0
	}
	for k, v := range req.Header {
		hr.Header[k] = v
	}
	resp, err := r.client.Do(hr)
	if err == nil {
		_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswerBody))
		resp.Body.Close()
		status = resp.StatusCode
	}
	switch {
	case err != nil && isTimeout(err):
		return "timeout", status
	case err != nil:
		return "connection", status
	case status < 200 || status > 299:
		return "status", status
	}
	return "", status
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
