package egress

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"testing"
)

func TestPolicy(t *testing.T) {
	t.Parallel()
	p := New(Config{Allow: []string{"proxy.golang.org", ".npmjs.org"}, Deny: []netip.Prefix{netip.MustParsePrefix("192.0.2.2/32")}}, slog.New(slog.DiscardHandler))
	for host, want := range map[string]bool{
		"proxy.golang.org": true, "PROXY.golang.org.": true, "registry.npmjs.org": true,
		"evilproxy.golang.org": false, "golang.org": false, "npmjs.org.evil": false, "127.0.0.1": false, "[::1]": false,
	} {
		if got := p.Allowed(host); got != want {
			t.Errorf("Allowed(%q) = %v, want %v", host, got, want)
		}
	}
	for addr, want := range map[string]bool{
		"203.0.113.80": true, "8.8.8.8": true, "2606:4700::1111": true,
		"127.0.0.1": false, "10.1.2.3": false, "172.17.0.1": false, "192.168.1.1": false, "169.254.169.254": false,
		"100.64.0.1": false, "0.0.0.0": false, "::1": false, "::ffff:127.0.0.1": false, "fe80::1": false,
		"fd00::1": false, "224.0.0.1": false, "255.255.255.255": false, "192.0.2.2": false, "64:ff9b::7f00:1": false,
	} {
		if got := p.Public(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Public(%s) = %v, want %v", addr, got, want)
		}
		// IsPublic is the same test without the proxy's deny list.
		if got, want := IsPublic(netip.MustParseAddr(addr)), want || addr == "192.0.2.2"; got != want {
			t.Errorf("IsPublic(%s) = %v, want %v", addr, got, want)
		}
	}
}

// TestRefusals: a CONNECT or plain request to a host off the list, or to an allowed name that
// resolves to a private address, is answered 403 and never dialled.
func TestRefusals(t *testing.T) {
	t.Parallel()
	dialled := 0
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { dialled++ }))
	defer upstream.Close()
	_, port, _ := net.SplitHostPort(upstream.Listener.Addr().String())
	p := New(Config{
		Allow: []string{"allowed.test"},
		Ports: []string{"80", "443", port},
		Resolve: func(ctx context.Context, host string) ([]netip.Addr, error) {
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil // a name that points home
		},
	}, slog.New(slog.DiscardHandler))
	srv := httptest.NewServer(p)
	defer srv.Close()
	proxyURL, _ := url.Parse(srv.URL)
	for _, target := range []string{"example.com:443", "127.0.0.1:" + port, "allowed.test:" + port, "allowed.test:22"} {
		c, err := net.Dial("tcp", proxyURL.Host)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		c.Close()
		if err != nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("CONNECT %s: %v %v, want 403", target, resp.Status, err)
		}
	}
	hc := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL)}}
	for _, u := range []string{"http://example.com/", "http://allowed.test:" + port + "/", "http://127.0.0.1:" + port + "/"} {
		resp, err := hc.Get(u)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("GET %s through the proxy: %s, want 403", u, resp.Status)
		}
	}
	if dialled != 0 {
		t.Errorf("the loopback upstream was reached %d times", dialled)
	}
}
