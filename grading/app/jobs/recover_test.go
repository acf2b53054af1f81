package jobs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/app/github"
	"github.com/holdfast-ci/holdfast/grading/app/github/githubtest"
	"github.com/holdfast-ci/holdfast/grading/app/jobs"
	"github.com/holdfast-ci/holdfast/grading/app/store"
	"github.com/holdfast-ci/holdfast/grading/app/store/storetest"
	"github.com/holdfast-ci/holdfast/grading/app/webhook"
	wt "github.com/holdfast-ci/holdfast/grading/app/webhook/webhooktest"
)

const (
	pubInst  = 11
	pubRepo  = 1101
	pubOwner = "classroom"
	pubName  = "pay-bob"
)

type recovery struct {
	st   *store.Store
	fake *githubtest.Server
	deps jobs.Deps
	rc   *river.Client[pgx.Tx]
}

// newRecovery is the App without workers: the store with one assignment, the fake GitHub, and a
// River client that only inserts (as the webhook handler's).
func newRecovery(t *testing.T) *recovery {
	t.Helper()
	st, _ := storetest.New(t)
	ctx := context.Background()
	fake := githubtest.New(t)
	fake.AddInstallation(pubInst, pubOwner)
	fake.AddRepo(pubInst, pubOwner, pubName, &githubtest.RepoOpts{ID: pubRepo})
	if err := st.SyncChallenges(ctx, []grading.Challenge{{Slug: "idempotent-payments", Title: "Payments"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateAssignment(ctx, store.Assignment{InstallationID: pubInst, RepoID: pubRepo, Owner: pubOwner, Name: pubName,
		Challenge: "idempotent-payments", User: "bob"}); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	app, err := github.NewApp(github.Config{AppID: fake.AppID, PrivateKey: fake.PrivateKeyPEM, BaseURL: fake.URL}, log)
	if err != nil {
		t.Fatal(err)
	}
	deps := jobs.Deps{Store: st, GitHub: app, Log: log}
	rc, err := jobs.NewClient(deps, jobs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &recovery{st: st, fake: fake, deps: deps, rc: rc}
}

func label(s string) string { return commit(s) }

// TestMissedDeliveriesAreRedelivered: a push GitHub could not deliver (the App answered 503) is
// asked for again once the App is back, stored once, and counted from GitHub's first attempt.
func TestMissedDeliveriesAreRedelivered(t *testing.T) {
	p := newRecovery(t)
	h, err := webhook.New([]byte("s3cret"), p.st, p.rc, p.deps.Log)
	if err != nil {
		t.Fatal(err)
	}
	var down atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "database unavailable", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.fake.SetWebhook(srv.URL, []byte("s3cret"))
	payload := func(branch, lbl string) []byte {
		return mustJSON(t, wt.Load(t, "push.new-branch").Repo(pubInst, pubRepo, pubOwner, pubName).Push(branch, label("before"), label(lbl)))
	}
	ok, status := p.fake.Deliver("push", payload("main", "took"))
	if status != http.StatusAccepted {
		t.Fatalf("a delivery while up: %d", status)
	}
	down.Store(true)
	missed, status := p.fake.Deliver("push", payload("late", "missed"))
	if status != http.StatusServiceUnavailable {
		t.Fatalf("a delivery while down: %d", status)
	}
	first := p.fake.Deliveries()[1].DeliveredAt
	time.Sleep(1100 * time.Millisecond) // GitHub's clock has whole seconds
	down.Store(false)

	w := &jobs.RecoverDeliveriesWorker{Deps: p.deps}
	work := func() {
		t.Helper()
		if err := w.Work(context.Background(), &river.Job[jobs.RecoverDeliveriesArgs]{}); err != nil {
			t.Fatal(err)
		}
		p.fake.WaitDeliveries()
	}
	work()
	var got []githubtest.Delivery
	for _, d := range p.fake.Deliveries() {
		if d.GUID == missed {
			got = append(got, d)
		}
	}
	if len(got) != 2 || !got[1].Redelivery || got[1].StatusCode != http.StatusAccepted {
		var seen []string
		for _, d := range got {
			seen = append(seen, fmt.Sprintf("%d redelivery=%v status=%d", d.ID, d.Redelivery, d.StatusCode))
		}
		t.Fatalf("attempts of the missed delivery: %v; want the failed one and a redelivery answered 202", seen)
	}
	for _, d := range p.fake.Deliveries() {
		if d.GUID == ok && d.Redelivery {
			t.Fatal("a delivery the App took was redelivered")
		}
	}
	var received time.Time
	if err := p.st.Pool.QueryRow(context.Background(), `SELECT created_at FROM submissions WHERE delivery_id=$1`, missed).Scan(&received); err != nil {
		t.Fatalf("the recovered push was not stored: %v", err)
	}
	if !received.Equal(first) {
		t.Fatalf("the recovered push counts from %s; want GitHub's first attempt, %s", received, first)
	}
	n := len(p.fake.Deliveries())
	work()
	if len(p.fake.Deliveries()) != n {
		t.Fatal("a second scan redelivered again")
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
