package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"riverqueue.com/riverui"

	"github.com/holdfast-ci/holdfast/grading/app/store"
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

// riverUIPrefix is where River's job dashboard is mounted.
const riverUIPrefix = "/riverui"

// riverUI returns River's job dashboard for rc's database, started (it runs background queries
// until ctx ends), to be mounted at riverUIPrefix+"/" for reviewers.
func riverUI(ctx context.Context, rc *river.Client[pgx.Tx], log *slog.Logger) (http.Handler, error) {
	h, err := riverui.NewHandler(&riverui.HandlerOpts{
		Endpoints: riverui.NewEndpoints(rc, nil),
		Logger:    log,
		Prefix:    riverUIPrefix,
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

// reviewerOnly lets only signed-in reviewers through to h (River's dashboard, a single-page app
// with its own JSON API). A visitor without a session is treated as on every reviewer page: a
// page load is sent to sign in, an API call is refused. Calls that change something (retry,
// cancel, delete a job) must also come from this origin; the session cookie is SameSite=Strict,
// so another site cannot make a browser send it anyway.
func (w *Web) reviewerOnly(h http.Handler) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		safe := r.Method == http.MethodGet || r.Method == http.MethodHead
		_, err := w.session(r)
		switch {
		case errors.Is(err, store.ErrNotFound) && safe && !strings.HasPrefix(r.URL.Path, riverUIPrefix+"/api/"):
			secureHeaders(rw)
			http.Redirect(rw, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		case errors.Is(err, store.ErrNotFound):
			w.status(rw, http.StatusUnauthorized, "Sign in first", "River's dashboard is for reviewers; sign in and try again.")
			return
		case err != nil:
			w.fail(rw, err)
			return
		case !safe && !sameOrigin(r):
			w.status(rw, http.StatusForbidden, "Refused", "This change did not come from Holdfast's own pages. Reload the dashboard and try again.")
			return
		}
		// The dashboard runs its own scripts, so the reviewer pages' no-script policy does not
		// apply; it is still never framed.
		rw.Header().Set("Content-Security-Policy", "frame-ancestors 'none'")
		rw.Header().Set("X-Content-Type-Options", "nosniff")
		rw.Header().Set("Referrer-Policy", "same-origin")
		h.ServeHTTP(rw, r)
	}
}
