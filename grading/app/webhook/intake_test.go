package webhook_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/grading/app/jobs"
	"github.com/holdfast-ci/holdfast/grading/app/store"
	"github.com/holdfast-ci/holdfast/grading/app/webhook"
	wt "github.com/holdfast-ci/holdfast/grading/app/webhook/webhooktest"
)

// TestPoisonedPushFailsAloneAfterItsBatch: ten pushes arrive together and share a transaction;
// one of them makes the commit fail (a deferred check refuses its delivery id). The batch fails
// as a whole, each push tries again alone: the nine are answered 202 and stored once with their
// jobs, the poisoned one 500, with nothing of it stored.
func TestPoisonedPushFailsAloneAfterItsBatch(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	rc, err := jobs.NewClient(jobs.Deps{Store: e.st, Log: log}, jobs.Options{}) // insert-only
	if err != nil {
		t.Fatal(err)
	}
	h, err := webhook.NewWithOpts([]byte(secret), e.st, rc, log,
		&webhook.Opts{Intake: &store.IntakeOpts{Committers: 1, Window: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	if _, err := e.st.Pool.Exec(ctx, `CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.id = 'poison' THEN RAISE EXCEPTION 'poisoned delivery'; END IF; RETURN NULL; END $$;
		CREATE CONSTRAINT TRIGGER refuse_poison AFTER INSERT ON deliveries DEFERRABLE INITIALLY DEFERRED
		FOR EACH ROW EXECUTE FUNCTION refuse_poison()`); err != nil {
		t.Fatal(err)
	}
	ids := []string{"poison"}
	for i := range 9 {
		ids = append(ids, fmt.Sprintf("d-%d", i))
	}
	codes := make([]int, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() {
			p := wt.Load(t, "push.new-branch").Push("b-"+id, fmt.Sprintf("%040d", 0), fmt.Sprintf("%040x", 0xbee0+i))
			resp, _ := wt.Deliver(t, srv.URL, secret, "push", id, p)
			codes[i] = resp.StatusCode
		})
	}
	wg.Wait()
	for i, id := range ids {
		want := http.StatusAccepted
		if id == "poison" {
			want = http.StatusInternalServerError
		}
		if codes[i] != want {
			t.Errorf("%s: answered %d; want %d", id, codes[i], want)
		}
	}
	if got := e.jobs(t); got != "9 submissions, 9 runs, 18 jobs, 9 deliveries" {
		t.Fatalf("stored %s; want the nine others, each once, with their two jobs", got)
	}
}
