// Package egress is the proxy through which learners' image builds reach the package
// registries, and nothing else. Build steps run on a network with no route out; this proxy,
// attached to that network and to an ordinary one, serves HTTP CONNECT (for HTTPS) and plain
// HTTP to the host names on its allow-list only, refuses names that resolve to loopback,
// private, link-local or other non-public addresses (or to any address the operator denies,
// such as the grading host's own), and logs each host a build fetched from.
package egress

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Config is the proxy's policy.
type Config struct {
	// Allow lists the host names builds may reach: "example.org" matches that name only,
	// ".example.org" (or "*.example.org") every name under it. IP literals never match.
	Allow []string
	// Deny lists addresses refused besides the non-public ones (the grading host's own public
	// addresses, for one).
	Deny []netip.Prefix
	// Ports are the ports builds may reach. Default 80 and 443.
	Ports []string
	// Resolve looks names up. Default net.DefaultResolver.
	Resolve func(ctx context.Context, host string) ([]netip.Addr, error)
	// DialTimeout bounds connecting upstream. Default 10 s.
	DialTimeout time.Duration
	// IdleTimeout closes a tunnel with no traffic either way for this long. Default 2 min.
	IdleTimeout time.Duration
}

// Proxy is an http.Handler serving CONNECT and absolute-URI HTTP requests.
type Proxy struct {
	cfg   Config
	log   *slog.Logger
	trans *http.Transport
}

// New returns a proxy with cfg's policy, logging to log.
func New(cfg Config, log *slog.Logger) *Proxy {
	if len(cfg.Ports) == 0 {
		cfg.Ports = []string{"80", "443"}
	}
	if cfg.Resolve == nil {
		cfg.Resolve = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 10 * time.Second
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 2 * time.Minute
	}
	p := &Proxy{cfg: cfg, log: log}
	p.trans = &http.Transport{
		Proxy:                 nil,
		DialContext:           p.dial,
		MaxIdleConns:          32,
		IdleConnTimeout:       30 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
	}
	return p
}

// ErrRefused is wrapped by every policy refusal.
var ErrRefused = errors.New("refused by the build's egress policy")

// Allowed reports whether host (a name, without port) is on the allow-list.
func (p *Proxy) Allowed(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if _, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return false
	}
	for _, a := range p.cfg.Allow {
		a = strings.ToLower(strings.TrimPrefix(a, "*"))
		if strings.HasPrefix(a, ".") {
			if strings.HasSuffix(host, a) {
				return true
			}
		} else if host == a {
			return true
		}
	}
	return false
}

// Public reports whether addr may be dialled: IsPublic, and not denied.
func (p *Proxy) Public(addr netip.Addr) bool {
	if !IsPublic(addr) {
		return false
	}
	for _, pr := range p.cfg.Deny {
		if pr.Contains(addr.Unmap()) {
			return false
		}
	}
	return true
}

// IsPublic reports whether addr is a public address: not loopback, private, link-local,
// multicast, unspecified, shared (100.64/10), this-network (0/8), benchmarking or reserved.
func IsPublic(addr netip.Addr) bool {
	addr = addr.Unmap()
	if !addr.IsGlobalUnicast() || addr.IsPrivate() || addr.IsLoopback() || addr.IsLinkLocalUnicast() {
		return false
	}
	for _, pr := range nonPublic {
		if pr.Contains(addr) {
			return false
		}
	}
	return true
}

var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"), // NAT64 could reach any IPv4 address
	netip.MustParsePrefix("2001:db8::/32"),
}

// dial connects to hostport after checking it against the policy, dialling the address it
// checked (a second lookup could answer otherwise).
func (p *Proxy) dial(ctx context.Context, network, hostport string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, fmt.Errorf("%w: %q is not host:port", ErrRefused, hostport)
	}
	if !p.Allowed(host) {
		return nil, fmt.Errorf("%w: %s is not on the allow-list", ErrRefused, host)
	}
	portOK := false
	for _, pt := range p.cfg.Ports {
		portOK = portOK || pt == port
	}
	if !portOK {
		return nil, fmt.Errorf("%w: port %s", ErrRefused, port)
	}
	rctx, cancel := context.WithTimeout(ctx, p.cfg.DialTimeout)
	defer cancel()
	addrs, err := p.cfg.Resolve(rctx, host)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", host, err)
	}
	var errs []error
	for _, a := range addrs {
		if !p.Public(a) {
			errs = append(errs, fmt.Errorf("%w: %s resolves to %s, not a public address", ErrRefused, host, a))
			continue
		}
		d := net.Dialer{Timeout: p.cfg.DialTimeout}
		c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(a.String(), port))
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("resolve %s: no addresses", host)
	}
	return nil, errors.Join(errs...)
}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		p.connect(w, r)
		return
	}
	if r.URL.Scheme != "http" || r.URL.Host == "" {
		http.Error(w, "this is the build's egress proxy: only CONNECT and absolute http:// requests", http.StatusBadRequest)
		return
	}
	start := time.Now()
	out := r.Clone(r.Context())
	out.RequestURI = ""
	for _, h := range []string{"Proxy-Connection", "Proxy-Authorization", "Connection", "Keep-Alive", "Te", "Trailer", "Upgrade"} {
		out.Header.Del(h)
	}
	host := r.URL.Host
	if _, _, err := net.SplitHostPort(host); err != nil {
		host = net.JoinHostPort(host, "80")
	}
	resp, err := p.trans.RoundTrip(out)
	if err != nil {
		p.refuseOrFail(w, r.Method, host, err)
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	n, _ := io.Copy(w, resp.Body)
	p.log.Info("fetched", "method", r.Method, "host", host, "status", resp.StatusCode, "bytes", n, "ms", time.Since(start).Milliseconds())
}

func (p *Proxy) refuseOrFail(w http.ResponseWriter, method, host string, err error) {
	if errors.Is(err, ErrRefused) {
		p.log.Warn("refused", "method", method, "host", host, "err", err)
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	p.log.Warn("upstream failed", "method", method, "host", host, "err", err)
	http.Error(w, err.Error(), http.StatusBadGateway)
}

func (p *Proxy) connect(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	up, err := p.dial(r.Context(), "tcp", r.Host)
	if err != nil {
		p.refuseOrFail(w, "CONNECT", r.Host, err)
		return
	}
	defer up.Close()
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "cannot tunnel", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
	down, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	defer down.Close()
	var wg sync.WaitGroup
	var sent, recv int64
	wg.Add(2)
	go func() {
		defer wg.Done()
		// Bytes the client sent after its CONNECT and that the server already buffered.
		if n := buf.Reader.Buffered(); n > 0 {
			b, _ := buf.Reader.Peek(n)
			up.Write(b)
			sent += int64(n)
		}
		n, _ := copyIdle(up, down, p.cfg.IdleTimeout)
		sent += n
		closeWrite(up)
	}()
	go func() {
		defer wg.Done()
		recv, _ = copyIdle(down, up, p.cfg.IdleTimeout)
		closeWrite(down)
	}()
	wg.Wait()
	p.log.Info("fetched", "method", "CONNECT", "host", r.Host, "sent", sent, "bytes", recv, "ms", time.Since(start).Milliseconds())
}

// copyIdle copies until EOF, an error, or idle passes with nothing read.
func copyIdle(dst, src net.Conn, idle time.Duration) (int64, error) {
	buf := make([]byte, 32<<10)
	var total int64
	for {
		src.SetReadDeadline(time.Now().Add(idle))
		n, err := src.Read(buf)
		if n > 0 {
			dst.SetWriteDeadline(time.Now().Add(idle))
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return total, werr
			}
			total += int64(n)
		}
		if err != nil {
			if err == io.EOF {
				return total, nil
			}
			return total, err
		}
	}
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(interface{ CloseWrite() error }); ok {
		tc.CloseWrite()
		return
	}
	c.Close()
}
