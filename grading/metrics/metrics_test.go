package metrics_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/holdfast-ci/holdfast/grading/app/store/storetest"
	"github.com/holdfast-ci/holdfast/grading/metrics"
)

// scrape fetches h's exposition text.
func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: %d\n%s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

// value returns the sample of series (name{labels} exactly as exposed, labels sorted by name) in
// body, and whether it is there.
func value(body, series string) (float64, bool) {
	for _, line := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v, err == nil
		}
	}
	return 0, false
}

func want(t *testing.T, body, series string, expected float64) {
	t.Helper()
	v, ok := value(body, series)
	if !ok {
		t.Fatalf("%s is not in the scrape:\n%s", series, grep(body, strings.SplitN(series, "{", 2)[0]))
	}
	if v != expected {
		t.Fatalf("%s = %v, want %v", series, v, expected)
	}
}

// grep keeps body's lines that mention s, for failure messages.
func grep(body, s string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestRoute(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ path, want string }{
		{"/repos/acme/widget-7/check-runs/12345", "/repos/{owner}/{repo}/check-runs/{id}"},
		{"/repos/someone-else/other.repo/check-runs/9", "/repos/{owner}/{repo}/check-runs/{id}"},
		{"/api/v3/repos/acme/shop/check-runs", "/api/v3/repos/{owner}/{repo}/check-runs"},
		{"/repos/acme/shop/issues/7/comments", "/repos/{owner}/{repo}/issues/{id}/comments"},
		{"/repos/acme/shop/issues/comments/991", "/repos/{owner}/{repo}/issues/comments/{id}"},
		{"/repos/acme/shop/commits/0123456789abcdef0123456789abcdef01234567/pulls", "/repos/{owner}/{repo}/commits/{sha}/pulls"},
		{"/repos/acme/shop/tarball/0123456789abcdef0123456789abcdef01234567", "/repos/{owner}/{repo}/tarball/{ref}"},
		{"/repos/acme/shop/git/refs/heads/feature/x", "/repos/{owner}/{repo}/git/refs/{ref}"},
		{"/repos/acme/shop/git/refs", "/repos/{owner}/{repo}/git/refs"},
		{"/repos/acme/shop/contents/src/deep/main.go", "/repos/{owner}/{repo}/contents/{path}"},
		{"/repos/acme/shop/collaborators/bob", "/repos/{owner}/{repo}/collaborators/{user}"},
		{"/repos/acme-templates/tpl-go/generate", "/repos/{owner}/{repo}/generate"},
		{"/app/installations/42/access_tokens", "/app/installations/{id}/access_tokens"},
		{"/orgs/acme/repos", "/orgs/{org}/repos"},
		{"/users/octocat", "/users/{user}"},
		{"/some/thing/new", "/{x}/{x}/{x}"},
		{"/", "/"},
		{"/" + strings.Repeat("a/", 30), "/{x}/{x}/{x}/{x}/{x}/{x}/{x}/{x}/{x}/{x}/{more}"},
	} {
		if got := metrics.Route(tc.path); got != tc.want {
			t.Errorf("Route(%q) = %q, want %q", tc.path, got, tc.want)
		}
	}
}

func TestTransportCountsByCollapsedRoute(t *testing.T) {
	t.Parallel()
	gh := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/ok") {
			return
		}
		http.Error(w, `{"message":"Resource not accessible by integration"}`, http.StatusForbidden)
	}))
	defer gh.Close()
	s := metrics.New()
	c := &http.Client{Transport: s.Transport(http.DefaultTransport)}
	for _, path := range []string{"/repos/acme/widget-7/check-runs/12345", "/repos/someone/else/check-runs/9", "/installation/ok"} {
		resp, err := c.Get(gh.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close() // nothing answers there any more
	if _, err := c.Post(gone.URL+"/repos/acme/shop/check-runs", "application/json", strings.NewReader("{}")); err == nil {
		t.Fatal("a request to a closed server succeeded")
	}
	body := scrape(t, s.Handler())
	want(t, body, `holdfast_github_requests_total{method="GET",route="/repos/{owner}/{repo}/check-runs/{id}",status="403"}`, 2)
	want(t, body, `holdfast_github_requests_total{method="GET",route="/installation/{x}",status="200"}`, 1)
	want(t, body, `holdfast_github_requests_total{method="POST",route="/repos/{owner}/{repo}/check-runs",status="error"}`, 1)
	if strings.Contains(body, "acme") || strings.Contains(body, "12345") {
		t.Fatalf("an owner or id leaked into a label:\n%s", grep(body, "holdfast_github"))
	}
}

func TestWebhookRecordsEventAndStatus(t *testing.T) {
	t.Parallel()
	s := metrics.New()
	h := s.Webhook(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("answer") {
		case "401":
			http.Error(w, "bad signature", http.StatusUnauthorized)
		case "202":
			w.WriteHeader(http.StatusAccepted)
			w.WriteHeader(http.StatusTeapot) // superfluous: the client saw 202
		case "write":
			io.WriteString(w, "ok") // implicit 200
		}
		// "": nothing written, net/http answers 200
	}))
	for _, d := range []struct{ event, answer string }{
		{"push", "202"}, {"push", "202"}, {"push", "401"}, {"check_run", "write"}, {"ping", ""},
		{"made-up-" + strconv.Itoa(time.Now().Nanosecond()), "401"}, {"", "401"},
	} {
		req := httptest.NewRequest(http.MethodPost, "/webhooks/github?answer="+d.answer, strings.NewReader("{}"))
		if d.event != "" {
			req.Header.Set("X-GitHub-Event", d.event)
		}
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	body := scrape(t, s.Handler())
	want(t, body, `holdfast_webhook_deliveries_total{code="202",event="push"}`, 2)
	want(t, body, `holdfast_webhook_deliveries_total{code="401",event="push"}`, 1)
	want(t, body, `holdfast_webhook_deliveries_total{code="200",event="check_run"}`, 1)
	want(t, body, `holdfast_webhook_deliveries_total{code="200",event="ping"}`, 1)
	want(t, body, `holdfast_webhook_deliveries_total{code="401",event="other"}`, 1)
	want(t, body, `holdfast_webhook_deliveries_total{code="401",event="none"}`, 1)
	want(t, body, `holdfast_webhook_duration_seconds_count{event="push"}`, 3)
	if strings.Contains(body, "made-up") {
		t.Fatalf("an unknown event became a label value:\n%s", grep(body, "holdfast_webhook"))
	}
}

func TestCountersMove(t *testing.T) {
	t.Parallel()
	s := metrics.New()
	s.RateLimitWait(1500 * time.Millisecond)
	s.RateLimitWait(500 * time.Millisecond)
	s.ObserveStage("build", 3*time.Second)
	s.ObserveStage("scenarios", 9*time.Second)
	s.ObserveStage("scenarios", 8*time.Second)
	s.Repaired("check_run_stuck")
	s.Repaired("check_run_stuck")
	s.Redelivered()
	body := scrape(t, s.Handler())
	want(t, body, `holdfast_github_ratelimit_wait_seconds_total`, 2)
	want(t, body, `holdfast_github_ratelimited_total`, 2)
	want(t, body, `holdfast_grading_stage_seconds_count{stage="scenarios"}`, 2)
	want(t, body, `holdfast_grading_stage_seconds_sum{stage="scenarios"}`, 17)
	want(t, body, `holdfast_grading_stage_seconds_bucket{stage="build",le="5"}`, 1)
	want(t, body, `holdfast_reconciler_repairs_total{kind="check_run_stuck"}`, 2)
	want(t, body, `holdfast_deliveries_redelivered_total`, 1)
	for _, std := range []string{"go_goroutines", "process_start_time_seconds"} {
		if _, ok := value(body, std); !ok {
			t.Errorf("%s is missing: the Go and process collectors should be registered", std)
		}
	}
}

// The package-level functions move Default, which Handler serves.
func TestDefault(t *testing.T) {
	body := scrape(t, metrics.Handler())
	before, _ := value(body, `holdfast_deliveries_redelivered_total`)
	repairs, _ := value(body, `holdfast_reconciler_repairs_total{kind="default_test"}`)
	metrics.Redelivered()
	metrics.Repaired("default_test")
	metrics.ObserveStage("start", time.Second)
	metrics.RateLimitWait(time.Second)
	h := metrics.Webhook(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) }))
	req := httptest.NewRequest(http.MethodPost, "/webhooks/github", nil)
	req.Header.Set("X-GitHub-Event", "check_suite")
	h.ServeHTTP(httptest.NewRecorder(), req)
	body = scrape(t, metrics.Handler())
	want(t, body, `holdfast_deliveries_redelivered_total`, before+1)
	want(t, body, `holdfast_reconciler_repairs_total{kind="default_test"}`, repairs+1)
	if _, ok := value(body, `holdfast_webhook_deliveries_total{code="202",event="check_suite"}`); !ok {
		t.Fatalf("the package-level Webhook did not count in Default:\n%s", grep(body, "holdfast_webhook"))
	}
}

func TestJobsCollector(t *testing.T) {
	t.Parallel()
	st, _ := storetest.New(t)
	ctx := context.Background()
	insert := func(queue, state string, n int) {
		t.Helper()
		finalized := "NULL"
		if state == "completed" || state == "cancelled" || state == "discarded" {
			finalized = "now()"
		}
		for range n {
			if _, err := st.Pool.Exec(ctx, `INSERT INTO river_job (args, kind, max_attempts, queue, state, finalized_at)
				VALUES ('{}', 'metrics_test', 3, $1, $2, `+finalized+`)`, queue, state); err != nil {
				t.Fatalf("insert a %s job: %v", state, err)
			}
		}
	}
	s := metrics.New()
	if err := s.Register(metrics.JobsCollector(st.Pool)); err != nil {
		t.Fatal(err)
	}
	if v, ok := value(scrape(t, s.Handler()), `holdfast_jobs{queue="grade",state="available"}`); ok {
		t.Fatalf("an empty queue table reports grade/available = %v; want no series", v)
	}
	insert("grade", "available", 3)
	insert("grade", "completed", 2)
	insert("github", "retryable", 1)
	body := scrape(t, s.Handler())
	want(t, body, `holdfast_jobs{queue="grade",state="available"}`, 3)
	want(t, body, `holdfast_jobs{queue="grade",state="completed"}`, 2)
	want(t, body, `holdfast_jobs{queue="grade",state="running"}`, 0)
	want(t, body, `holdfast_jobs{queue="github",state="retryable"}`, 1)
	want(t, body, `holdfast_jobs{queue="github",state="available"}`, 0)
	if _, err := st.Pool.Exec(ctx, `UPDATE river_job SET state = 'completed', finalized_at = now() WHERE queue = 'grade' AND state = 'available'`); err != nil {
		t.Fatal(err)
	}
	body = scrape(t, s.Handler())
	want(t, body, `holdfast_jobs{queue="grade",state="available"}`, 0)
	want(t, body, `holdfast_jobs{queue="grade",state="completed"}`, 5)
}

// A database that does not answer costs the scrape its job counts, not the other metrics.
func TestJobsCollectorWithoutDatabase(t *testing.T) {
	t.Parallel()
	pool, err := pgxpool.New(context.Background(), "postgres://holdfast@127.0.0.1:1/holdfast?connect_timeout=2&sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	s := metrics.New()
	if err := s.Register(metrics.JobsCollector(pool)); err != nil {
		t.Fatal(err)
	}
	s.Redelivered()
	body := scrape(t, s.Handler())
	if strings.Contains(body, "holdfast_jobs{") {
		t.Fatalf("job counts without a database:\n%s", grep(body, "holdfast_jobs"))
	}
	want(t, body, `holdfast_deliveries_redelivered_total`, 1)
}
