package agentcmd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/holdfast-ci/holdfast/grading/docker/egress"
)

// runEgress is `agent egress`: the proxy through which learners' image builds reach the
// package registries (see grading/docker/egress). The runner starts it, from this image, on
// the build network. Environment: HOLDFAST_EGRESS_LISTEN (default :3128),
// HOLDFAST_EGRESS_ALLOW (comma-separated host names, required), HOLDFAST_EGRESS_DENY
// (comma-separated addresses or prefixes refused besides the non-public ones).
func runEgress(ctx context.Context, getenv func(string) string, log *slog.Logger) error {
	listen := getenv("HOLDFAST_EGRESS_LISTEN")
	if listen == "" {
		listen = ":3128"
	}
	var cfg egress.Config
	for _, h := range strings.Split(getenv("HOLDFAST_EGRESS_ALLOW"), ",") {
		if h = strings.TrimSpace(h); h != "" {
			cfg.Allow = append(cfg.Allow, h)
		}
	}
	if len(cfg.Allow) == 0 {
		return errors.New("HOLDFAST_EGRESS_ALLOW names no host: builds could reach nothing")
	}
	for _, d := range strings.Split(getenv("HOLDFAST_EGRESS_DENY"), ",") {
		if d = strings.TrimSpace(d); d == "" {
			continue
		}
		p, err := netip.ParsePrefix(d)
		if err != nil {
			a, aerr := netip.ParseAddr(d)
			if aerr != nil {
				return fmt.Errorf("HOLDFAST_EGRESS_DENY: %q is neither an address nor a prefix", d)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		cfg.Deny = append(cfg.Deny, p)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: egress.New(cfg, log), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	log.Info("egress proxy listening", "addr", ln.Addr().String(), "allow", strings.Join(cfg.Allow, ","), "deny", len(cfg.Deny))
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
