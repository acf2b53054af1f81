package store_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/app/store"
	"github.com/holdfast-ci/holdfast/grading/app/store/storetest"
)

func setup(t *testing.T) (*store.Store, store.Assignment) {
	t.Helper()
	s, _ := storetest.New(t)
	ctx := context.Background()
	if err := s.SyncChallenges(ctx, []grading.Challenge{{Slug: "idempotent-payments", Title: "Idempotent payments"}}); err != nil {
		t.Fatal(err)
	}
	a, err := s.CreateAssignment(ctx, store.Assignment{InstallationID: 1, RepoID: 10, Owner: "org", Name: "pay-alice", Challenge: "idempotent-payments", User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	return s, a
}

func newRun(t *testing.T, s *store.Store, a store.Assignment, sha, branch string) (int64, []int64) {
	t.Helper()
	var id int64
	var sup []int64
	err := pgx.BeginFunc(context.Background(), s.Pool, func(tx pgx.Tx) (err error) {
		id, sup, err = store.CreateRun(context.Background(), tx, store.Submission{AssignmentID: a.ID, SHA: sha, Ref: "refs/heads/" + branch, Branch: branch})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id, sup
}

func TestMigrateIsIdempotentAndConcurrent(t *testing.T) {
	t.Parallel()
	s, _ := storetest.New(t)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = s.Migrate(context.Background(), slog.New(slog.DiscardHandler)) }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestAssignmentLookup(t *testing.T) {
	t.Parallel()
	s, a := setup(t)
	ctx := context.Background()
	byID, err := s.AssignmentByRepo(ctx, 10, "", "")
	if err != nil || byID.ID != a.ID {
		t.Fatalf("by id: %+v %v", byID, err)
	}
	byName, err := s.AssignmentByRepo(ctx, 0, "ORG", "Pay-Alice")
	if err != nil || byName.ID != a.ID {
		t.Fatalf("by name, any case: %+v %v", byName, err)
	}
	if _, err := s.AssignmentByRepo(ctx, 99, "org", "other"); err != store.ErrNotFound {
		t.Fatalf("unknown repo: got %v, want ErrNotFound", err)
	}
	if _, err := s.CreateAssignment(ctx, store.Assignment{InstallationID: 1, Owner: "org", Name: "pay-alice", Challenge: "idempotent-payments", User: "bob"}); err == nil {
		t.Fatal("a second assignment for one repository: want an error")
	}
}

func TestNewerPushSupersedesUnfinishedRuns(t *testing.T) {
	t.Parallel()
	s, a := setup(t)
	ctx := context.Background()
	r1, _ := newRun(t, s, a, "aaa", "main")
	other, _ := newRun(t, s, a, "ooo", "feature")
	if ok, err := s.StartRun(ctx, r1); !ok || err != nil {
		t.Fatalf("start r1: %v %v", ok, err)
	}
	r2, sup := newRun(t, s, a, "bbb", "main")
	if len(sup) != 1 || sup[0] != r1 {
		t.Fatalf("superseded %v; want [%d] (not the other branch's %d)", sup, r1, other)
	}
	if ok, _ := s.StartRun(ctx, r1); ok {
		t.Fatal("a superseded run must not start again")
	}
	var current bool
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) (err error) {
		current, err = store.CompleteRun(ctx, tx, r1, grading.Verdict{Status: grading.Passed, Score: 100})
		return err
	})
	if err != nil || current {
		t.Fatalf("completing a superseded run: current=%v %v; want it refused", current, err)
	}
	run, err := s.GetRun(ctx, r1)
	if err != nil || run.Status != "superseded" || run.SupersededBy == nil || *run.SupersededBy != r2 {
		t.Fatalf("r1 after: %+v %v", run, err)
	}
	err = pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) (err error) {
		current, err = store.CompleteRun(ctx, tx, r2, grading.Verdict{Status: grading.Failed, Score: 40,
			Scenarios: []grading.ScenarioResult{{Slug: "a", Weight: 1, Outcome: grading.OutcomeFailed}}})
		return err
	})
	if err != nil || !current {
		t.Fatalf("completing the current run: %v %v", current, err)
	}
	var n int
	s.Pool.QueryRow(ctx, "SELECT count(*) FROM scenario_results WHERE run_id=$1", r2).Scan(&n)
	if n != 1 {
		t.Fatalf("scenario results stored: %d, want 1", n)
	}
}

func TestDeliveriesAreClaimedOnce(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := context.Background()
	var got []bool
	for i := 0; i < 2; i++ {
		pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
			ok, err := store.ClaimDelivery(ctx, tx, "d-1", "push")
			got = append(got, ok)
			return err
		})
	}
	if !got[0] || got[1] {
		t.Fatalf("claims %v; want [true false]", got)
	}
}

// TestLatePushNeverSupersedesANewerOne: the recovery job redelivers newest first, so pushes
// arrive out of order; they are ordered by when they were received (GitHub's first attempt).
func TestLatePushNeverSupersedesANewerOne(t *testing.T) {
	t.Parallel()
	s, a := setup(t)
	ctx := context.Background()
	at := func(sha string, received time.Time) (int64, []int64) {
		t.Helper()
		var id int64
		var sup []int64
		err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) (err error) {
			id, sup, err = store.CreateRun(ctx, tx, store.Submission{AssignmentID: a.ID, SHA: sha, Ref: "refs/heads/main", Branch: "main", ReceivedAt: received})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return id, sup
	}
	t0 := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	newest, _ := at(strings.Repeat("c", 40), t0.Add(20*time.Second)) // redelivered first
	late, sup := at(strings.Repeat("b", 40), t0.Add(10*time.Second)) // then the older ones
	if len(sup) != 0 {
		t.Fatalf("a late push superseded %v", sup)
	}
	status := func(id int64) (string, *int64) {
		r, err := s.GetRun(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return r.Status, r.SupersededBy
	}
	if st, by := status(late); st != "superseded" || by == nil || *by != newest {
		t.Fatalf("the late push: %s by %v; want superseded by the newer run %d", st, by, newest)
	}
	if st, _ := status(newest); st != "queued" {
		t.Fatalf("the newest push: %s; want still queued", st)
	}
	// A push received after all of them supersedes the newest, as ever.
	latest, sup := at(strings.Repeat("d", 40), time.Time{})
	if len(sup) != 1 || sup[0] != newest {
		t.Fatalf("a new push superseded %v; want [%d]", sup, newest)
	}
	if st, _ := status(latest); st != "queued" {
		t.Fatalf("the latest push: %s", st)
	}
}
