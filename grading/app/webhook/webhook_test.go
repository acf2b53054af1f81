package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/app/jobs"
	"github.com/holdfast-ci/holdfast/grading/app/store"
	"github.com/holdfast-ci/holdfast/grading/app/store/storetest"
	"github.com/holdfast-ci/holdfast/grading/app/webhook"
	wt "github.com/holdfast-ci/holdfast/grading/app/webhook/webhooktest"
)

const secret = "test-secret"

type env struct {
	st  *store.Store
	url string
	a   store.Assignment
}

func setup(t *testing.T) env {
	t.Helper()
	st, _ := storetest.New(t)
	ctx := context.Background()
	if err := st.SyncChallenges(ctx, []grading.Challenge{{Slug: "idempotent-payments", Title: "x"}}); err != nil {
		t.Fatal(err)
	}
	a, err := st.CreateAssignment(ctx, store.Assignment{InstallationID: 1, RepoID: 186853002, Owner: "Codertocat", Name: "Hello-World",
		Challenge: "idempotent-payments", User: "Codertocat"})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	rc, err := jobs.NewClient(jobs.Deps{Store: st, Log: log}, jobs.Options{}) // insert-only
	if err != nil {
		t.Fatal(err)
	}
	h, err := webhook.New([]byte(secret), st, rc, log)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return env{st: st, url: srv.URL, a: a}
}

func (e env) count(t *testing.T, query string) int {
	t.Helper()
	var n int
	if err := e.st.Pool.QueryRow(context.Background(), query).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (e env) jobs(t *testing.T) string {
	return fmt.Sprintf("%d submissions, %d runs, %d jobs, %d deliveries",
		e.count(t, "SELECT count(*) FROM submissions"), e.count(t, "SELECT count(*) FROM runs"),
		e.count(t, "SELECT count(*) FROM river_job"), e.count(t, "SELECT count(*) FROM deliveries"))
}

const sha1hex = "1111111111111111111111111111111111111111"

func push(t *testing.T) wt.Payload {
	return wt.Load(t, "push.new-branch").Push("main", strings.Repeat("0", 39)+"1", sha1hex)
}

func TestNoSecretNoHandler(t *testing.T) {
	t.Parallel()
	if _, err := webhook.New(nil, nil, nil, nil); err == nil {
		t.Fatal("an empty secret must be refused")
	}
}

func TestSignatureRequired(t *testing.T) {
	t.Parallel()
	e := setup(t)
	body, _ := json.Marshal(push(t))
	m := hmac.New(sha1.New, []byte(secret))
	m.Write(body)
	for name, sig := range map[string]string{
		"missing":         "",
		"wrong secret":    webhook.Signature([]byte("other"), body),
		"malformed":       "sha256=zz",
		"sha1 not enough": "sha1=" + hex.EncodeToString(m.Sum(nil)),
	} {
		var resp *http.Response
		if sig == "" {
			// No header at all: build the request by hand.
			req, _ := http.NewRequest(http.MethodPost, e.url, strings.NewReader(string(body)))
			req.Header.Set("X-GitHub-Event", "push")
			req.Header.Set("X-GitHub-Delivery", "d-"+name)
			req.Header.Set("X-Hub-Signature", "sha1="+hex.EncodeToString(m.Sum(nil)))
			r, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			r.Body.Close()
			resp = r
		} else {
			resp, _ = wt.Deliver(t, e.url, secret, "push", "d-"+name, push(t), sig)
		}
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s signature: got %d, want 401", name, resp.StatusCode)
		}
	}
	if got := e.jobs(t); got != "0 submissions, 0 runs, 0 jobs, 0 deliveries" {
		t.Fatalf("after forged deliveries: %s; want nothing stored", got)
	}
}

func TestPushQueuesOnceAndRedeliveryIsANoop(t *testing.T) {
	t.Parallel()
	e := setup(t)
	resp, out := wt.Deliver(t, e.url, secret, "push", "delivery-1", push(t))
	if resp.StatusCode != http.StatusAccepted || out["result"] != "queued" {
		t.Fatalf("push: %d %v", resp.StatusCode, out)
	}
	resp, out = wt.Deliver(t, e.url, secret, "push", "delivery-1", push(t))
	if resp.StatusCode != http.StatusOK || !strings.Contains(fmt.Sprint(out["result"]), "seen before") {
		t.Fatalf("redelivery: %d %v", resp.StatusCode, out)
	}
	if got := e.jobs(t); got != "1 submissions, 1 runs, 2 jobs, 1 deliveries" {
		t.Fatalf("after a delivery and its redelivery: %s", got)
	}
	var kinds string
	e.st.Pool.QueryRow(context.Background(), "SELECT string_agg(kind || '@' || queue, ',' ORDER BY kind) FROM river_job").Scan(&kinds)
	if kinds != "grade@grade,publish@github" {
		t.Fatalf("jobs: %s", kinds)
	}
}

func TestPushesThatGradeNothing(t *testing.T) {
	t.Parallel()
	e := setup(t)
	cases := []struct {
		name    string
		payload wt.Payload
		say     string
	}{
		{"tag deletion (real fixture)", wt.Load(t, "push.tag-deleted"), "not a branch push"},
		{"branch deletion", push(t).Set("deleted", true).Set("after", strings.Repeat("0", 40)), "branch deleted"},
		{"unknown repository", push(t).Repo(1, 999, "someone", "elsewhere"), "not an assignment repository"},
	}
	for i, c := range cases {
		resp, out := wt.Deliver(t, e.url, secret, "push", fmt.Sprintf("nothing-%d", i), c.payload)
		if resp.StatusCode != http.StatusAccepted || !strings.Contains(fmt.Sprint(out["result"]), c.say) {
			t.Errorf("%s: %d %v; want 202 saying %q", c.name, resp.StatusCode, out, c.say)
		}
	}
	if got := e.jobs(t); got != "0 submissions, 0 runs, 0 jobs, 0 deliveries" {
		t.Fatalf("%s; want nothing queued", got)
	}
}

func TestRerequestsRegrade(t *testing.T) {
	t.Parallel()
	e := setup(t)
	cr := wt.Load(t, "check_run.rerequested").Repo(1, 186853002, "Codertocat", "Hello-World")
	action := wt.Load(t, "check_run.requested_action").Repo(1, 186853002, "Codertocat", "Hello-World").
		Set("requested_action.identifier", "rerun")
	suite := wt.Load(t, "check_suite.rerequested").Repo(1, 186853002, "Codertocat", "Hello-World")
	for i, c := range []struct {
		event string
		p     wt.Payload
	}{{"check_run", cr}, {"check_run", action}, {"check_suite", suite}} {
		resp, out := wt.Deliver(t, e.url, secret, c.event, fmt.Sprintf("re-%d", i), c.p)
		if resp.StatusCode != http.StatusAccepted || out["result"] != "queued" {
			t.Errorf("%s %v: %d %v", c.event, c.p["action"], resp.StatusCode, out)
		}
	}
	// check_suite "requested" comes with every push, which is graded from the push itself.
	resp, _ := wt.Deliver(t, e.url, secret, "check_suite", "re-requested", wt.Load(t, "check_suite.requested").Repo(1, 186853002, "Codertocat", "Hello-World"))
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("check_suite requested: %d", resp.StatusCode)
	}
	if got := e.jobs(t); got != "3 submissions, 3 runs, 6 jobs, 3 deliveries" {
		t.Fatalf("%s", got)
	}
}

func TestPullRequestsAndInstallations(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	resp, _ := wt.Deliver(t, e.url, secret, "pull_request", "pr-1", wt.Load(t, "pull_request.opened"))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("pull_request opened: %d", resp.StatusCode)
	}
	prs, err := e.st.OpenPullRequests(ctx, e.a.ID, "changes")
	if err != nil || len(prs) != 1 || prs[0] != 2 {
		t.Fatalf("open PRs on 'changes': %v %v", prs, err)
	}
	wt.Deliver(t, e.url, secret, "pull_request", "pr-2", wt.Load(t, "pull_request.closed"))
	if prs, _ := e.st.OpenPullRequests(ctx, e.a.ID, "changes"); len(prs) != 0 {
		t.Fatalf("after close: %v", prs)
	}
	for i, f := range []struct{ event, name string }{{"installation", "installation.created"}, {"installation_repositories", "installation_repositories.added"}} {
		if resp, out := wt.Deliver(t, e.url, secret, f.event, fmt.Sprint("inst-", i), wt.Load(t, f.name)); resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %v", f.name, resp.StatusCode, out)
		}
	}
	if n := e.count(t, "SELECT count(*) FROM installations"); n != 1 {
		t.Fatalf("installations: %d", n)
	}
	if n := e.count(t, "SELECT count(*) FROM installation_repos"); n == 0 {
		t.Fatal("no repositories recorded")
	}
	// The two fixtures come from different examples: point the deletion at the same installation.
	created := wt.Load(t, "installation.created")["installation"].(map[string]any)["id"]
	wt.Deliver(t, e.url, secret, "installation", "inst-del", wt.Load(t, "installation.deleted").Set("installation.id", created))
	if n := e.count(t, "SELECT count(*) FROM installations"); n != 0 {
		t.Fatalf("installations after delete: %d", n)
	}
	if resp, out := wt.Deliver(t, e.url, secret, "ping", "ping-1", wt.Load(t, "ping")); resp.StatusCode != http.StatusOK || out["result"] != "pong" {
		t.Fatalf("ping: %d %v", resp.StatusCode, out)
	}
}

// TestDeliveryAfterADatabaseRestartIsStored: a Postgres restart ends the pool's connections
// (57P01); the first delivery to take one used to be answered 500 and wait for the recovery
// scan. It is stored at once.
func TestDeliveryAfterADatabaseRestartIsStored(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	// Warm the pool, then end every connection it holds, as a restart does.
	conns := make([]*pgxpool.Conn, 0, 3)
	for range 3 {
		c, err := e.st.Pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.Release()
	}
	admin, err := pgx.Connect(ctx, e.st.Pool.Config().ConnConfig.ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var ended int
	if err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&ended); err != nil || ended == 0 {
		t.Fatalf("ended %d connections: %v", ended, err)
	}
	resp, out := wt.Deliver(t, e.url, secret, "push", "after-restart", push(t))
	if resp.StatusCode != http.StatusAccepted || out["result"] != "queued" {
		t.Fatalf("the first delivery after the restart: %d %v; want 202 queued", resp.StatusCode, out)
	}
}
