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

	"github.com/riverqueue/river"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/app/apptest"
	"github.com/holdfast-ci/holdfast/grading/app/github/githubtest"
	"github.com/holdfast-ci/holdfast/grading/app/jobs"
	"github.com/holdfast-ci/holdfast/grading/app/webhook"
	wt "github.com/holdfast-ci/holdfast/grading/app/webhook/webhooktest"
	"github.com/holdfast-ci/holdfast/grading/gradingtest"
)

// TestMissedDeliveriesAreRedelivered: a push GitHub could not deliver (the App answered 503) is
// asked for again once the App is back, stored once, and counted from GitHub's first attempt.
func TestMissedDeliveriesAreRedelivered(t *testing.T) {
	// The App without workers: its River client only inserts, as the webhook handler's.
	p := apptest.New(t, apptest.Options{Challenges: []grading.Challenge{{Slug: "idempotent-payments", Title: "Payments"}},
		Lookup: gradingtest.Lookup, Jobs: &jobs.Options{}, Log: slog.New(slog.DiscardHandler)})
	as := p.Assign(t, "pay-bob", 1101, "idempotent-payments", "bob")
	h, err := webhook.New([]byte(apptest.Secret), p.Store, p.River, p.Deps.Log)
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
	p.GitHub.SetWebhook(srv.URL, []byte(apptest.Secret))
	payload := func(branch, lbl string) []byte {
		return mustJSON(t, wt.Load(t, "push.new-branch").Repo(as.InstallationID, as.RepoID, as.Owner, as.Name).Push(branch, commit("before"), commit(lbl)))
	}
	ok, status := p.GitHub.Deliver("push", payload("main", "took"))
	if status != http.StatusAccepted {
		t.Fatalf("a delivery while up: %d", status)
	}
	down.Store(true)
	missed, status := p.GitHub.Deliver("push", payload("late", "missed"))
	if status != http.StatusServiceUnavailable {
		t.Fatalf("a delivery while down: %d", status)
	}
	first := p.GitHub.Deliveries()[1].DeliveredAt
	time.Sleep(1100 * time.Millisecond) // GitHub's clock has whole seconds
	down.Store(false)

	w := &jobs.RecoverDeliveriesWorker{Deps: p.Deps}
	work := func() {
		t.Helper()
		if err := w.Work(context.Background(), &river.Job[jobs.RecoverDeliveriesArgs]{}); err != nil {
			t.Fatal(err)
		}
		p.GitHub.WaitDeliveries()
	}
	work()
	var got []githubtest.Delivery
	for _, d := range p.GitHub.Deliveries() {
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
	for _, d := range p.GitHub.Deliveries() {
		if d.GUID == ok && d.Redelivery {
			t.Fatal("a delivery the App took was redelivered")
		}
	}
	var received time.Time
	if err := p.Store.Pool.QueryRow(context.Background(), `SELECT created_at FROM submissions WHERE delivery_id=$1`, missed).Scan(&received); err != nil {
		t.Fatalf("the recovered push was not stored: %v", err)
	}
	if !received.Equal(first) {
		t.Fatalf("the recovered push counts from %s; want GitHub's first attempt, %s", received, first)
	}
	n := len(p.GitHub.Deliveries())
	work()
	if len(p.GitHub.Deliveries()) != n {
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
