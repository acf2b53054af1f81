package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"riverqueue.com/riverui"

	"github.com/holdfast-ci/holdfast/grading/app/store"
	"github.com/holdfast-ci/holdfast/grading/app/web"
)

// readyz answers 200 only when the database answers and has every migration this binary knows
// (River's and migrations/), 503 with the reason otherwise: a load balancer or compose sends
// traffic to an App whose schema is current. /healthz stays the cheap liveness check.
func readyz(st *store.Store, log *slog.Logger) http.HandlerFunc {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if err := st.Pool.Ping(ctx); err != nil {
			log.Warn("readyz: database unreachable", "err", err)
			http.Error(w, "not ready: the database does not answer", http.StatusServiceUnavailable)
			return
		}
		pending, err := st.MigrationsPending(ctx)
		if err != nil {
			log.Warn("readyz: read migrations", "err", err)
			http.Error(w, "not ready: could not read which migrations are applied", http.StatusServiceUnavailable)
			return
		}
		if len(pending) > 0 {
			http.Error(w, "not ready: migrations not applied: "+strings.Join(pending, ", ")+" (run `app migrate`)", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	}
}

// riverUI returns River's job dashboard for rc's database, started (it runs background queries
// until ctx ends), to be mounted at web.RiverUIPrefix+"/" for reviewers.
func riverUI(ctx context.Context, rc *river.Client[pgx.Tx], log *slog.Logger) (http.Handler, error) {
	h, err := riverui.NewHandler(&riverui.HandlerOpts{
		Endpoints: riverui.NewEndpoints(rc, nil),
		Logger:    log,
		Prefix:    web.RiverUIPrefix,
		// Arguments name repositories and commits: shown on demand, not in every list.
		JobListHideArgsByDefault: true,
	})
	if err != nil {
		return nil, fmt.Errorf("river UI: %w", err)
	}
	if err := h.Start(ctx); err != nil {
		return nil, fmt.Errorf("start river UI: %w", err)
	}
	return h, nil
}
