package app

import (
	"context"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/holdfast-ci/holdfast/grading/app/store"
	"github.com/holdfast-ci/holdfast/grading/app/store/storetest"
	"github.com/holdfast-ci/holdfast/grading/app/web"
	"github.com/holdfast-ci/holdfast/migrations"
	"github.com/holdfast-ci/holdfast/scenarios/catalog"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestReadyz(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, dbURL := storetest.New(t)
	quiet := slog.New(slog.DiscardHandler)
	srv := httptest.NewServer(Routes(http.NotFoundHandler(), st, http.NotFoundHandler(), &web.Web{Store: st, Log: quiet}))
	defer srv.Close()
	if code, body := get(t, srv.URL+"/readyz"); code != 200 || body != "ready\n" {
		t.Fatalf("readyz on a migrated database: %d %q; want 200 ready", code, body)
	}

	files, _ := fs.Glob(migrations.FS, "*.sql")
	last := files[len(files)-1]
	if _, err := st.Pool.Exec(ctx, "DELETE FROM holdfast_migrations WHERE name = $1", last); err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, srv.URL+"/readyz"); code != 503 || !strings.Contains(body, last) || !strings.Contains(body, "app migrate") {
		t.Fatalf("readyz with %s unapplied: %d %q; want 503 naming it", last, code, body)
	}
	if code, _ := get(t, srv.URL+"/healthz"); code != 200 {
		t.Fatalf("healthz with a migration unapplied: %d; want 200 (liveness is not readiness)", code)
	}

	// A fresh, empty schema: nothing of River's or the App's is there.
	if _, err := st.Pool.Exec(ctx, "CREATE SCHEMA hf_empty"); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(dbURL)
	q := u.Query()
	q.Set("search_path", "hf_empty")
	u.RawQuery = q.Encode()
	pool, err := pgxpool.New(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	empty := &store.Store{Pool: pool}
	defer empty.Close()
	esrv := httptest.NewServer(Routes(http.NotFoundHandler(), empty, http.NotFoundHandler(), &web.Web{Store: empty, Log: quiet}))
	defer esrv.Close()
	if code, body := get(t, esrv.URL+"/readyz"); code != 503 || !strings.Contains(body, "river 1") || !strings.Contains(body, files[0]) {
		t.Fatalf("readyz on an empty schema: %d %q; want 503 naming River's and the App's migrations", code, body)
	}

	empty.Close() // the database is gone
	if code, body := get(t, esrv.URL+"/readyz"); code != 503 || !strings.Contains(body, "database") {
		t.Fatalf("readyz without a database: %d %q; want 503 saying so", code, body)
	}
}

func TestMetricsAfterWebhook(t *testing.T) {
	t.Parallel()
	st, _ := storetest.New(t)
	hook := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) })
	srv := httptest.NewServer(Routes(hook, st, http.NotFoundHandler(), &web.Web{Store: st, Log: slog.New(slog.DiscardHandler)}))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhooks/github", strings.NewReader("{}"))
	req.Header.Set("X-GitHub-Event", "installation_repositories")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	code, body := get(t, srv.URL+"/metrics")
	for _, want := range []string{
		`holdfast_webhook_deliveries_total{code="202",event="installation_repositories"}`,
		`holdfast_webhook_duration_seconds_count{event="installation_repositories"}`,
		"go_goroutines",
	} {
		if code != 200 || !strings.Contains(body, want) {
			t.Fatalf("metrics after a webhook: %d; want %s in:\n%s", code, want, body)
		}
	}
}

func TestRiverUIIsForReviewers(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := newSite(t, nil)
	rc, err := river.NewClient(riverpgxv5.New(s.st.Pool), &river.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ui, err := riverUI(ctx, rc, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	reviewers := &web.Web{Store: s.st, Log: slog.New(slog.DiscardHandler), RiverUI: ui}
	srv := httptest.NewServer(Routes(http.NotFoundHandler(), s.st, http.NotFoundHandler(), reviewers))
	defer srv.Close()
	s.srv = srv

	anon := s.browser()
	resp, _ := anon.do("GET", "/riverui/", nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next=%2Friverui%2F" {
		t.Fatalf("anonymous dashboard: %d to %q; want 303 to sign in, as every reviewer page", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, body := anon.do("GET", "/riverui/api/jobs?state=available", nil); resp.StatusCode != http.StatusUnauthorized || strings.Contains(body, `"data"`) {
		t.Fatalf("anonymous API call: %d %q; want 401", resp.StatusCode, body)
	}
	if resp, _ := anon.do("POST", "/riverui/api/jobs/retry", nil, "Content-Type", "application/json"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous retry: %d; want 401", resp.StatusCode)
	}
	forged := s.browser()
	forged.client.Jar.SetCookies(mustURL(t, srv.URL), []*http.Cookie{{Name: web.SessionCookie, Value: "made-up", Path: "/"}})
	if resp, _ := forged.do("GET", "/riverui/", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("made-up session: %d; want 303 to sign in", resp.StatusCode)
	}

	rev := s.browser()
	rev.signIn(s.token)
	resp, page := rev.do("GET", "/riverui/", nil)
	if resp.StatusCode != 200 || !strings.Contains(page, "<html") {
		t.Fatalf("reviewer's dashboard: %d\n%.400s", resp.StatusCode, page)
	}
	resp, body := rev.do("GET", "/riverui/api/jobs?state=available", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, `"data"`) {
		t.Fatalf("reviewer's API call: %d %q", resp.StatusCode, body)
	}
	resp, _ = rev.do("POST", "/riverui/api/jobs/retry", nil, "Origin", "https://evil.example", "Content-Type", "application/json")
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a change from another origin: %d; want 403", resp.StatusCode)
	}
	// Signing in from the dashboard's redirect comes back to it.
	_, login := rev.do("GET", "/login?next=%2Friverui%2F", nil)
	if !strings.Contains(login, `value="/riverui/"`) {
		t.Fatalf("sign-in form does not return to the dashboard:\n%s", login)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestHealthcheckCommand(t *testing.T) {
	t.Parallel()
	// Which address is asked: grading/health's TestLocalURL.
	st, _ := storetest.New(t)
	srv := httptest.NewServer(Routes(http.NotFoundHandler(), st, http.NotFoundHandler(), &web.Web{Store: st, Log: slog.New(slog.DiscardHandler)}))
	defer srv.Close()
	_, port, _ := strings.Cut(srv.Listener.Addr().String(), ":")
	var out strings.Builder
	if err := run(context.Background(), catalog.MustNew(catalog.Builtin()), []string{"healthcheck"}, func(k string) string {
		if k == "HOLDFAST_LISTEN" {
			return ":" + port
		}
		return ""
	}, io.Discard, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("app healthcheck against a ready App: %v", err)
	}
	if _, err := st.Pool.Exec(context.Background(), "DELETE FROM holdfast_migrations"); err != nil {
		t.Fatal(err)
	}
	if err := healthcheck(context.Background(), ":"+port, &out); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("app healthcheck against an App with migrations pending: %v; want it to fail with the 503", err)
	}
}
