package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/holdfast-ci/holdfast/grading/app/config"
	"github.com/holdfast-ci/holdfast/grading/app/store"
	"github.com/holdfast-ci/holdfast/grading/health"
	"github.com/holdfast-ci/holdfast/grading/metrics"
)

// engineChecker is what the health check asks of the Docker engine (*docker.Engine); tests
// stand in an engine that is down or lacks an image.
type engineChecker interface {
	Ping(ctx context.Context) error
	MissingImages(ctx context.Context) ([]string, error)
}

// healthCheckTimeout bounds each part of a health check, so a probe gets its answer in seconds
// even when the engine or the database hangs.
const healthCheckTimeout = 3 * time.Second

// healthHandler serves GET /healthz — 200 only when the Docker engine answers, the images a
// grading needs are on it and the queue's database answers; 503 otherwise; one plain line per
// part either way — GET /readyz — 200 "ready" when the runner takes jobs, 503 with the reason
// room gives when it does not (its engine's disk is below the floor); a nil room is always
// ready — and GET /metrics.
func healthHandler(eng engineChecker, st *store.Store, room func(context.Context) error) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if room != nil {
			ctx, cancel := context.WithTimeout(r.Context(), healthCheckTimeout)
			defer cancel()
			if err := room(ctx); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprintln(w, "not ready: "+err.Error())
				return
			}
		}
		fmt.Fprintln(w, "ready")
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		var lines []string
		healthy := true
		report := func(part string, err error) {
			if err != nil {
				healthy = false
				lines = append(lines, part+": "+err.Error())
				return
			}
			lines = append(lines, part+": ok")
		}
		within := func(check func(context.Context) error) error {
			ctx, cancel := context.WithTimeout(r.Context(), healthCheckTimeout)
			defer cancel()
			return check(ctx)
		}
		engineErr := within(eng.Ping)
		report("docker", engineErr)
		if engineErr != nil {
			report("images", errors.New("not checked: the engine does not answer"))
		} else {
			report("images", within(func(ctx context.Context) error {
				missing, err := eng.MissingImages(ctx)
				if err == nil && len(missing) > 0 {
					err = fmt.Errorf("missing %s (build them with `bash deploy/bootstrap.sh`)", strings.Join(missing, ", "))
				}
				return err
			}))
		}
		err := within(st.Pool.Ping)
		if err != nil {
			err = fmt.Errorf("does not answer: %w", err)
		}
		report("database", err)

		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if !healthy {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprintln(w, strings.Join(lines, "\n"))
	})
	mux.Handle("GET /metrics", metrics.Handler())
	return mux
}

// serveHealth serves h on addr (RUNNER_HEALTH_LISTEN; "" serves nothing) until stop is called.
// It listens before returning, so an address in use fails the runner's start, not a probe later.
// It returns the address it listens on.
func serveHealth(addr string, h http.Handler, log *slog.Logger) (bound string, stop func(), err error) {
	if addr == "" {
		return "", func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("health endpoint on %s (RUNNER_HEALTH_LISTEN): %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("health endpoint stopped", "err", err)
		}
	}()
	log.Info("runner health endpoint", "listen", ln.Addr().String())
	return ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}

// healthcheck asks the runner on this host whether it is healthy: GET /healthz on
// RUNNER_HEALTH_LISTEN must answer 200 within 10 s (each of its three parts may take
// healthCheckTimeout). It is the container's health check (deploy/compose.yaml), since the
// image has neither curl nor wget.
// cfg is config.RunnerHealth's.
func healthcheck(ctx context.Context, cfg config.Config, stdout, stderr io.Writer) int {
	if cfg.HealthAddr() == "" {
		fmt.Fprintln(stderr, "runner healthcheck: RUNNER_HEALTH_LISTEN is off: there is no health endpoint to ask; give it the address `runner work` serves on, or drop the container's health check")
		return exitUsage
	}
	url, err := health.LocalURL(cfg.HealthAddr(), "/healthz")
	if err != nil {
		fmt.Fprintf(stderr, "runner healthcheck: RUNNER_HEALTH_LISTEN=%v\n", err)
		return exitUsage
	}
	if err := health.Check(ctx, url, 10*time.Second, stdout); err != nil {
		fmt.Fprintln(stderr, "runner", err)
		return exitFail
	}
	return exitPass
}
