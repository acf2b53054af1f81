package app

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/app/github"
	"github.com/holdfast-ci/holdfast/grading/app/github/githubtest"
	"github.com/holdfast-ci/holdfast/grading/app/repos"
	"github.com/holdfast-ci/holdfast/grading/app/store"
	"github.com/holdfast-ci/holdfast/grading/app/store/storetest"
	"github.com/holdfast-ci/holdfast/grading/app/web"
	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/catalog"
)

func TestUsageAndConfigErrors(t *testing.T) {
	t.Parallel()
	var stderr bytes.Buffer
	noenv := func(string) string { return "" }
	if err := run(context.Background(), catalog.MustNew(catalog.Builtin()), []string{"frob"}, noenv, &stderr, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(stderr.String(), "app templates publish") {
		t.Fatalf("unknown command: %v, %q", err, stderr.String())
	}
	err := run(context.Background(), catalog.MustNew(catalog.Builtin()), []string{"serve"}, noenv, io.Discard, slog.New(slog.DiscardHandler))
	for _, want := range []string{"GITHUB_APP_ID", "GITHUB_WEBHOOK_SECRET", "DATABASE_URL"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("serve without configuration: %v; want it to name %s", err, want)
		}
	}
}

func TestRoutes(t *testing.T) {
	t.Parallel()
	st, _ := storetest.New(t)
	ctx := context.Background()
	if err := st.SyncChallenges(ctx, []grading.Challenge{{Slug: "idempotent-payments", Title: "x"}}); err != nil {
		t.Fatal(err)
	}
	a, err := st.CreateAssignment(ctx, store.Assignment{InstallationID: 1, RepoID: 1, Owner: "o", Name: "r", Challenge: "idempotent-payments", User: "u"})
	if err != nil {
		t.Fatal(err)
	}
	var runID int64
	pgx.BeginFunc(ctx, st.Pool, func(tx pgx.Tx) (err error) {
		runID, _, err = store.CreateRun(ctx, tx, store.Submission{AssignmentID: a.ID, SHA: strings.Repeat("a", 40), Ref: "refs/heads/main", Branch: "main"})
		if err != nil {
			return err
		}
		_, err = store.CompleteRun(ctx, tx, runID, grading.Verdict{Status: grading.Failed, Score: 50, Scenarios: []grading.ScenarioResult{
			{Slug: "visible_one", Visibility: scenarios.Public, Weight: 1, Outcome: grading.OutcomePassed},
			{Slug: "secret_one", Visibility: scenarios.Hidden, Weight: 1, Outcome: grading.OutcomeFailed, Failure: &scenarios.Failure{Expected: "x", Actual: "y"}}}})
		return err
	})
	fake := githubtest.New(t)
	fake.AddInstallation(9, "org")
	app, err := github.NewApp(github.Config{AppID: fake.AppID, PrivateKey: fake.PrivateKeyPEM, BaseURL: fake.URL}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	prov := &repos.Provisioner{Store: st, GitHub: app, Installation: 9, Org: "org", Templates: os.DirFS("../../templates"), Challenges: []string{"idempotent-payments"}}
	token := strings.Repeat("t", 32)
	srv := httptest.NewServer(Routes(http.NotFoundHandler(), st, assignHandler(prov, token), &web.Web{Store: st, Log: slog.New(slog.DiscardHandler)}))
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("healthz: %d %q", code, body)
	}
	reportTok, err := st.ReportToken(ctx, runID)
	if err != nil || len(reportTok) != 64 {
		t.Fatalf("report token %q, %v", reportTok, err)
	}
	code, body := get("/runs/" + reportTok)
	if code != 200 || !strings.Contains(body, "PASS visible_one") || strings.Contains(body, "secret_one") {
		t.Fatalf("run page: %d\n%s\nwant the learner view (hidden scenario withheld)", code, body)
	}
	// Reports are not reached by counting: a run's number, a made-up token, a short one.
	for _, path := range []string{"/runs/" + itoa(runID), "/runs/1", "/runs/" + strings.Repeat("0", 64), "/runs/" + reportTok[:32]} {
		if code, _ := get(path); code != 404 {
			t.Fatalf("%s: %d; want 404", path, code)
		}
	}
	post := func(auth, body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/assignments", strings.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := post("", `{"challenge":"idempotent-payments","user":"bob"}`); code != 401 {
		t.Fatalf("no token: %d", code)
	}
	if code, _ := post("Bearer wrong", `{"challenge":"idempotent-payments","user":"bob"}`); code != 401 {
		t.Fatalf("wrong token: %d", code)
	}
	if code, body := post("Bearer "+token, `{"challenge":"nope","user":"bob"}`); code != 422 || !strings.Contains(body, "unknown challenge") {
		t.Fatalf("invalid request: %d %s", code, body)
	}
	if code, body := post("Bearer "+token, `{"challenge":"idempotent-payments","user":"bob","colour":"red"}`); code != 400 || !strings.Contains(body, "colour") {
		t.Fatalf("unknown field: %d %s", code, body)
	}
	if code, body := post("Bearer "+token, `{"challenge":"idempotent-payments","user":"bob","format":"take-home","deadline":"2030-01-01T00:00:00Z"}`); code != 422 || !strings.Contains(body, "app invite") {
		t.Fatalf("a take-home through assign: %d %s; want 422 pointing at invite (only invitations close at the deadline)", code, body)
	}
	if _, err := prov.PublishTemplates(ctx); err != nil {
		t.Fatal(err)
	}
	if code, body := post("Bearer "+token, `{"challenge":"idempotent-payments","user":"bob"}`); code != 201 || !strings.Contains(body, `"repo":"org/idempotent-payments-bob"`) {
		t.Fatalf("assign: %d %s", code, body)
	}
	off := httptest.NewServer(Routes(http.NotFoundHandler(), st, assignHandler(nil, ""), &web.Web{Store: st, Log: slog.New(slog.DiscardHandler)}))
	defer off.Close()
	resp, err := http.Post(off.URL+"/api/assignments", "application/json", strings.NewReader(`{}`))
	if err != nil || resp.StatusCode != 404 {
		t.Fatalf("endpoint without a token configured: %v %d; want 404 (disabled)", err, resp.StatusCode)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
