package store_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/app/store"
)

// intakeSetup is a database with one assignment and an Intake whose batches also write one
// row per job into intake_jobs (River stands apart from the store: its jobs are the caller's),
// so that a test sees whether jobs commit with their runs.
func intakeSetup(t *testing.T, opts *store.IntakeOpts) (*store.Store, store.Assignment, *store.Intake) {
	t.Helper()
	s, a := setup(t)
	ctx := context.Background()
	if _, err := s.Pool.Exec(ctx, `CREATE TABLE intake_jobs (run_id bigint NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	in := s.NewIntake(func(ctx context.Context, tx pgx.Tx, runs []store.NewRun) error {
		ids := make([]int64, 0, len(runs))
		for _, r := range runs {
			ids = append(ids, r.ID)
			ids = append(ids, r.Superseded...)
		}
		_, err := tx.Exec(ctx, `INSERT INTO intake_jobs SELECT unnest($1::bigint[])`, ids)
		return err
	}, opts)
	return s, a, in
}

func pushOf(a store.Assignment, delivery, branch string) store.IncomingPush {
	return store.IncomingPush{Delivery: delivery, RepoID: a.RepoID, Owner: a.Owner, Name: a.Name,
		SHA: fmt.Sprintf("%040x", len(delivery)*7919+int(delivery[len(delivery)-1])), Branch: branch, Who: "alice"}
}

// stored counts rows of the intake's tables: deliveries, submissions, runs, jobs.
func stored(t *testing.T, s *store.Store) string {
	t.Helper()
	var d, sub, r, j int
	err := s.Pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM deliveries), (SELECT count(*) FROM submissions),
		(SELECT count(*) FROM runs), (SELECT count(*) FROM intake_jobs)`).Scan(&d, &sub, &r, &j)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d deliveries, %d submissions, %d runs, %d jobs", d, sub, r, j)
}

// storeAll stores pushes concurrently and returns each one's result and error, in order.
func storeAll(in *store.Intake, pushes []store.IncomingPush) ([]store.PushResult, []error) {
	res, errs := make([]store.PushResult, len(pushes)), make([]error, len(pushes))
	var wg sync.WaitGroup
	for i, p := range pushes {
		wg.Go(func() { res[i], errs[i] = in.Store(context.Background(), p) })
	}
	wg.Wait()
	return res, errs
}

// TestIntakeGroupsConcurrentPushes: pushes that arrive together are stored in one transaction
// (their submissions carry its start time, now()), each with its run and jobs; a redelivery of
// any of them stores nothing new, whether it comes alone or in a batch.
func TestIntakeGroupsConcurrentPushes(t *testing.T) {
	t.Parallel()
	s, a, in := intakeSetup(t, &store.IntakeOpts{Committers: 1, Window: 200 * time.Millisecond})
	ctx := context.Background()
	var pushes []store.IncomingPush
	for i := range 20 {
		pushes = append(pushes, pushOf(a, fmt.Sprintf("d-%02d", i), fmt.Sprintf("b-%02d", i)))
	}
	res, errs := storeAll(in, pushes)
	for i := range pushes {
		if errs[i] != nil || res[i].Outcome != store.PushQueued || res[i].Run.ID == 0 || res[i].Assignment.ID != a.ID {
			t.Fatalf("push %d: %+v, %v; want queued with a run of assignment %d", i, res[i], errs[i], a.ID)
		}
	}
	var txs int
	if err := s.Pool.QueryRow(ctx, `SELECT count(DISTINCT created_at) FROM submissions`).Scan(&txs); err != nil || txs != 1 {
		t.Fatalf("the 20 pushes were stored in %d transactions (%v); want 1", txs, err)
	}
	if got, want := stored(t, s), "20 deliveries, 20 submissions, 20 runs, 20 jobs"; got != want {
		t.Fatalf("stored %s; want %s", got, want)
	}
	// Redelivered: in a batch, twice in the same batch, and alone.
	again := append(append([]store.IncomingPush{}, pushes...), pushes[3])
	res, errs = storeAll(in, again)
	for i := range again {
		if errs[i] != nil || res[i].Outcome != store.PushSeen {
			t.Fatalf("redelivery %d: %+v, %v; want seen", i, res[i], errs[i])
		}
	}
	if r, err := in.StoreAlone(ctx, pushes[0]); err != nil || r.Outcome != store.PushSeen {
		t.Fatalf("redelivered alone: %+v, %v; want seen", r, err)
	}
	// A new delivery twice in one batch: stored once.
	res, errs = storeAll(in, []store.IncomingPush{pushOf(a, "d-new", "b-new"), pushOf(a, "d-new", "b-new")})
	if errs[0] != nil || errs[1] != nil || res[0].Outcome+res[1].Outcome != store.PushQueued+store.PushSeen {
		t.Fatalf("one delivery twice in a batch: %+v %+v, %v %v; want one queued, one seen", res[0], res[1], errs[0], errs[1])
	}
	if got, want := stored(t, s), "21 deliveries, 21 submissions, 21 runs, 21 jobs"; got != want {
		t.Fatalf("after the redeliveries: %s; want %s", got, want)
	}
}

// TestIntakeOrdersPushesOfABranch: a push supersedes the unfinished older runs of its branch, a
// later push in the same batch the earlier one, and a recovered (redelivered) push received
// before the newest never supersedes it: as store.CreateRun does for one push at a time.
func TestIntakeOrdersPushesOfABranch(t *testing.T) {
	t.Parallel()
	s, a, in := intakeSetup(t, &store.IntakeOpts{Committers: 1, Window: 200 * time.Millisecond})
	ctx := context.Background()
	first, err := in.Store(ctx, pushOf(a, "p-1", "main"))
	if err != nil || first.Outcome != store.PushQueued {
		t.Fatalf("first push: %+v %v", first, err)
	}
	other, err := in.StoreAlone(ctx, pushOf(a, "p-2", "feature"))
	if err != nil || other.Outcome != store.PushQueued {
		t.Fatalf("other branch: %+v %v", other, err)
	}
	// Two pushes of main in one batch, in this order (the second waits for the first to queue).
	var second, third store.PushResult
	var err2, err3 error
	var wg sync.WaitGroup
	wg.Go(func() { second, err2 = in.Store(ctx, pushOf(a, "p-3", "main")) })
	time.Sleep(50 * time.Millisecond)
	wg.Go(func() { third, err3 = in.Store(ctx, pushOf(a, "p-4", "main")) })
	wg.Wait()
	if err2 != nil || err3 != nil {
		t.Fatal(err2, err3)
	}
	if fmt.Sprint(second.Run.Superseded) != fmt.Sprint([]int64{first.Run.ID}) || fmt.Sprint(third.Run.Superseded) != fmt.Sprint([]int64{second.Run.ID}) {
		t.Fatalf("superseded: by the second push %v, by the third %v; want [%d] and [%d]", second.Run.Superseded, third.Run.Superseded,
			first.Run.ID, second.Run.ID)
	}
	// A recovered push that GitHub first tried before the third one arrived.
	if _, err := s.RequestRedelivery(ctx, "p-late", "push", time.Now().Add(-time.Hour), 0); err != nil {
		t.Fatal(err)
	}
	late, err := in.Store(ctx, pushOf(a, "p-late", "main"))
	if err != nil || late.Outcome != store.PushQueued || len(late.Run.Superseded) != 0 {
		t.Fatalf("late push: %+v %v; want queued, superseding nothing", late, err)
	}
	status := func(id int64) string {
		t.Helper()
		r, err := s.GetRun(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		by := "-"
		if r.SupersededBy != nil {
			by = fmt.Sprint(*r.SupersededBy)
		}
		return r.Status + " by " + by
	}
	want := map[int64]string{first.Run.ID: fmt.Sprintf("superseded by %d", second.Run.ID), other.Run.ID: "queued by -",
		second.Run.ID: fmt.Sprintf("superseded by %d", third.Run.ID), third.Run.ID: "queued by -",
		late.Run.ID: fmt.Sprintf("superseded by %d", third.Run.ID)}
	for id, w := range want {
		if got := status(id); got != w {
			t.Errorf("run %d: %s; want %s", id, got, w)
		}
	}
	var received time.Time
	if err := s.Pool.QueryRow(ctx, `SELECT created_at FROM submissions WHERE delivery_id='p-late'`).Scan(&received); err != nil ||
		time.Since(received) < 59*time.Minute {
		t.Fatalf("the late push counts as received at %v (%v); want GitHub's first try, an hour ago", received, err)
	}
	// Not an assignment, or a refactor's: nothing stored, the delivery not claimed.
	stranger := store.IncomingPush{Delivery: "p-x", RepoID: 99, Owner: "org", Name: "elsewhere", SHA: strings.Repeat("a", 40), Branch: "main"}
	if r, err := in.Store(ctx, stranger); err != nil || r.Outcome != store.PushNoAssignment {
		t.Fatalf("a stranger's push: %+v %v", r, err)
	}
	if err := s.SyncChallenges(ctx, []grading.Challenge{{Slug: "refactor-x", Title: "x", Formats: []string{"refactor"}}}); err != nil {
		t.Fatal(err)
	}
	ra, err := s.CreateAssignment(ctx, store.Assignment{InstallationID: 1, RepoID: 11, Owner: "org", Name: "ref-alice", Challenge: "refactor-x", User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := in.Store(ctx, pushOf(ra, "p-r", "main")); err != nil || r.Outcome != store.PushRefactor || r.Assignment.ID != ra.ID {
		t.Fatalf("a refactor's push: %+v %v; want PushRefactor with assignment %d", r, err, ra.ID)
	}
	if got, want := stored(t, s), "5 deliveries, 5 submissions, 5 runs, 7 jobs"; got != want {
		t.Fatalf("stored %s; want %s (the stranger's and the refactor's deliveries unclaimed)", got, want)
	}
}

// TestIntakeFailedCommitFailsTheBatch: when a batch's commit fails, every caller in it gets
// the error and none of its deliveries is stored, not even in part; stored alone afterwards,
// the others succeed and the failing one fails again.
func TestIntakeFailedCommitFailsTheBatch(t *testing.T) {
	t.Parallel()
	s, a, in := intakeSetup(t, &store.IntakeOpts{Committers: 1, Window: 200 * time.Millisecond})
	ctx := context.Background()
	// A deferred constraint trigger runs at COMMIT: the commit of a transaction that
	// claimed the delivery "poison" fails.
	if _, err := s.Pool.Exec(ctx, `CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.id = 'poison' THEN RAISE EXCEPTION 'poisoned delivery'; END IF; RETURN NULL; END $$;
		CREATE CONSTRAINT TRIGGER refuse_poison AFTER INSERT ON deliveries DEFERRABLE INITIALLY DEFERRED
		FOR EACH ROW EXECUTE FUNCTION refuse_poison()`); err != nil {
		t.Fatal(err)
	}
	var pushes []store.IncomingPush
	for i := range 9 {
		pushes = append(pushes, pushOf(a, fmt.Sprintf("d-%d", i), fmt.Sprintf("b-%d", i)))
	}
	pushes = append(pushes, pushOf(a, "poison", "b-p"))
	_, errs := storeAll(in, pushes)
	for i, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "poisoned delivery") {
			t.Errorf("push %s: %v; want the failed commit's error", pushes[i].Delivery, err)
		}
	}
	if got, want := stored(t, s), "0 deliveries, 0 submissions, 0 runs, 0 jobs"; got != want {
		t.Fatalf("after the failed commit: %s; want %s", got, want)
	}
	for _, p := range pushes {
		r, err := in.StoreAlone(ctx, p)
		if ok := err == nil && r.Outcome == store.PushQueued; ok == (p.Delivery == "poison") {
			t.Errorf("%s stored alone: %+v, %v", p.Delivery, r, err)
		}
	}
	if got, want := stored(t, s), "9 deliveries, 9 submissions, 9 runs, 9 jobs"; got != want {
		t.Fatalf("stored alone: %s; want %s", got, want)
	}
}

// TestIntakeConnectionKilledMidBatch: Postgres ends the batch's connection while it writes
// (a restart, an administrator): every caller gets an error, nothing is stored, and the same
// deliveries sent again are each stored once.
func TestIntakeConnectionKilledMidBatch(t *testing.T) {
	t.Parallel()
	s, a, in := intakeSetup(t, &store.IntakeOpts{Committers: 1, Window: 200 * time.Millisecond})
	ctx := context.Background()
	if _, err := s.Pool.Exec(ctx, `CREATE FUNCTION slow_claim() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.id = 'slow' THEN PERFORM pg_sleep(30); END IF; RETURN NEW; END $$;
		CREATE TRIGGER slow_claim BEFORE INSERT ON deliveries FOR EACH ROW EXECUTE FUNCTION slow_claim()`); err != nil {
		t.Fatal(err)
	}
	var pushes []store.IncomingPush
	for i := range 9 {
		pushes = append(pushes, pushOf(a, fmt.Sprintf("d-%d", i), fmt.Sprintf("b-%d", i)))
	}
	pushes = append(pushes, pushOf(a, "slow", "b-s"))
	killed := make(chan error, 1)
	go func() {
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			var n int
			err := s.Pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
				WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event = 'PgSleep'`).Scan(&n)
			if err != nil || n > 0 {
				killed <- err
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		killed <- fmt.Errorf("no batch was seen writing within 20 s")
	}()
	_, errs := storeAll(in, pushes)
	if err := <-killed; err != nil {
		t.Fatal(err)
	}
	for i, err := range errs {
		if err == nil {
			t.Errorf("push %s: stored; want the killed connection's error", pushes[i].Delivery)
		}
	}
	if got, want := stored(t, s), "0 deliveries, 0 submissions, 0 runs, 0 jobs"; got != want {
		t.Fatalf("after the killed batch: %s; want %s", got, want)
	}
	if _, err := s.Pool.Exec(ctx, `DROP TRIGGER slow_claim ON deliveries`); err != nil {
		t.Fatal(err)
	}
	res, errs := storeAll(in, pushes)
	for i := range pushes {
		if errs[i] != nil || res[i].Outcome != store.PushQueued {
			t.Errorf("push %s again: %+v, %v; want queued", pushes[i].Delivery, res[i], errs[i])
		}
	}
	if got, want := stored(t, s), "10 deliveries, 10 submissions, 10 runs, 10 jobs"; got != want {
		t.Fatalf("sent again: %s; want %s", got, want)
	}
}
