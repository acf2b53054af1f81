package store_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/app/store"
	"github.com/holdfast-ci/holdfast/grading/compare"
)

func newComparison(t *testing.T, s *store.Store, a store.Assignment, base, head string) (int64, []int64) {
	t.Helper()
	var id int64
	var sup []int64
	err := pgx.BeginFunc(context.Background(), s.Pool, func(tx pgx.Tx) (err error) {
		id, sup, err = store.CreateComparison(context.Background(), tx, store.NewComparison{AssignmentID: a.ID, PR: 4, BaseSHA: base, HeadSHA: head, HeadRef: "tidy"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id, sup
}

// TestComparisonLifecycle: a newer comparison of the same pull request supersedes one not
// completed; a superseded one neither starts nor completes; a base verdict is reused for the
// same base commit, unless its grading was Holdfast's failure.
func TestComparisonLifecycle(t *testing.T) {
	s, a := setup(t)
	ctx := context.Background()
	first, _ := newComparison(t, s, a, "b1", "h1")
	if ok, err := s.StartComparison(ctx, first); !ok || err != nil {
		t.Fatalf("start: %v %v", ok, err)
	}
	if _, _, ok, _ := s.CachedBase(ctx, a.ID, "b1"); ok {
		t.Fatal("a base is cached before any was graded")
	}
	base := grading.Verdict{Challenge: "idempotent-payments", Status: grading.Passed, Score: 100}
	m := &compare.Metrics{Lines: 251, Functions: 5}
	if err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error { return store.SaveBase(ctx, tx, first, base, m) }); err != nil {
		t.Fatal(err)
	}
	second, sup := newComparison(t, s, a, "b1", "h2")
	if len(sup) != 1 || sup[0] != first {
		t.Fatalf("superseded %v; want [%d]", sup, first)
	}
	if ok, _ := s.StartComparison(ctx, first); ok {
		t.Fatal("a superseded comparison started")
	}
	var current bool
	_ = pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) (err error) {
		current, err = store.CompleteComparison(ctx, tx, first, compare.Result{Status: grading.Passed})
		return err
	})
	if current {
		t.Fatal("a superseded comparison completed")
	}
	v, gotM, ok, err := s.CachedBase(ctx, a.ID, "b1")
	if err != nil || !ok || v.Status != grading.Passed || gotM == nil || *gotM != *m {
		t.Fatalf("cached base %+v %+v %v %v; want the saved one", v, gotM, ok, err)
	}
	if err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		return store.SaveBase(ctx, tx, second, grading.Verdict{Status: grading.GraderError}, nil)
	}); err != nil {
		t.Fatal(err)
	}
	if v, _, _, _ := s.CachedBase(ctx, a.ID, "b1"); v.Status != grading.Passed {
		t.Fatalf("cached base is %s; a grader error is never reused", v.Status)
	}
	c, err := s.GetComparison(ctx, second)
	if err != nil || c.Base == nil || c.Base.Status != grading.GraderError || c.BaseMetrics != nil || c.PR != 4 || c.Assignment.Name != "pay-alice" {
		t.Fatalf("comparison %+v, %v", c, err)
	}
	if last, err := s.LatestComparisonOfHead(ctx, a.ID, "h2"); err != nil || last.ID != second {
		t.Fatalf("latest of h2: %d %v; want %d", last.ID, err, second)
	}
	if refactor, err := s.IsRefactor(ctx, "idempotent-payments"); refactor || err != nil {
		t.Fatalf("idempotent-payments is a refactor: %v %v", refactor, err)
	}
}

// TestComparisonPublicationState: a comparison carries the publication state runs do, under a
// lease, never moving back; the reconciler's queries find it when it lags or no job is left.
func TestComparisonPublicationState(t *testing.T) {
	s, a := setup(t)
	ctx := context.Background()
	id, _ := newComparison(t, s, a, "b1", "h1")
	c, err := s.GetComparison(ctx, id)
	if err != nil || c.Published != store.PublishedNone || c.CheckRunRequested || c.StartedAt != nil || c.CheckRunID != nil {
		t.Fatalf("new comparison %+v, %v", c, err)
	}
	if held, err := s.ClaimPublication(ctx, store.SubjectComparison, id, time.Minute); held || err != nil {
		t.Fatalf("first claim: held %v, %v", held, err)
	}
	if held, err := s.ClaimPublication(ctx, store.SubjectComparison, id, time.Minute); !held || err != nil {
		t.Fatalf("second claim: held %v, %v; want held", held, err)
	}
	if lagging, _ := s.UnpublishedComparisons(ctx, 0, 10); len(lagging) != 0 {
		t.Fatalf("a leased comparison is listed as lagging: %v", lagging)
	}
	if err := s.ReleasePublication(ctx, store.SubjectComparison, id); err != nil {
		t.Fatal(err)
	}
	if lagging, _ := s.UnpublishedComparisons(ctx, 0, 10); len(lagging) != 1 || lagging[0] != id {
		t.Fatalf("lagging %v; want [%d]", lagging, id)
	}
	if _, err := s.ClaimPublication(ctx, store.SubjectComparison, id+100, time.Minute); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("claim of a missing comparison: %v; want ErrNotFound", err)
	}
	if err := s.MarkCheckRunRequested(ctx, store.SubjectComparison, id); err != nil {
		t.Fatal(err)
	}
	if got, err := s.SaveCheckRun(ctx, store.SubjectComparison, id, 41); got != 41 || err != nil {
		t.Fatalf("save check run: %d %v", got, err)
	}
	if got, _ := s.SaveCheckRun(ctx, store.SubjectComparison, id, 42); got != 41 {
		t.Fatalf("a second check run replaced the first: %d", got)
	}
	for _, state := range []string{store.PublishedInProgress, store.PublishedQueued} {
		if err := s.SetPublished(ctx, store.SubjectComparison, id, state); err != nil {
			t.Fatal(err)
		}
	}
	if c, _ := s.GetComparison(ctx, id); c.Published != store.PublishedInProgress || !c.CheckRunRequested || c.CheckRunID == nil || *c.CheckRunID != 41 {
		t.Fatalf("comparison %+v; want in_progress (never back to queued), check run 41 requested", c)
	}
	// Queued, not started, with no compare job: orphaned once old enough.
	if ids, _ := s.OrphanedComparisons(ctx, 0, 10); len(ids) != 1 || ids[0] != id {
		t.Fatalf("orphaned %v; want [%d]", ids, id)
	}
	if _, err := s.Pool.Exec(ctx, `INSERT INTO river_job (args, kind, max_attempts, queue, state) VALUES ($1, 'compare', 4, 'grade', 'retryable')`,
		fmt.Sprintf(`{"comparison_id": %d, "side": "base"}`, id)); err != nil {
		t.Fatal(err)
	}
	if ids, _ := s.OrphanedComparisons(ctx, 0, 10); len(ids) != 0 {
		t.Fatalf("orphaned %v; want none while its compare job is to be retried", ids)
	}
}

// TestComparisonPublishMigration: migrations/0006 sets comparisons of the earlier version's
// workers to what GitHub shows of them, one step short of their end while a compare job of
// theirs may still run (it reported at its end, which a publication now does).
func TestComparisonPublishMigration(t *testing.T) {
	s, a := setup(t)
	ctx := context.Background()
	// Back to the schema before 0006.
	if _, err := s.Pool.Exec(ctx, `DROP INDEX comparisons_unpublished;
		ALTER TABLE comparisons DROP COLUMN published, DROP COLUMN publish_lease, DROP COLUMN check_run_requested_at, DROP COLUMN published_at;
		DELETE FROM holdfast_migrations WHERE name = '0006_comparison_publish.sql'`); err != nil {
		t.Fatal(err)
	}
	type legacy struct {
		status     string
		checkRun   bool
		started    bool
		pendingJob bool
		want       string
	}
	cases := []legacy{
		{"queued", false, false, true, store.PublishedNone},
		{"queued", true, false, true, store.PublishedQueued},
		{"in_progress", true, true, true, store.PublishedInProgress},
		{"completed", true, true, false, store.PublishedCommented},
		{"completed", true, true, true, store.PublishedInProgress}, // its report was to be retried
		{"superseded", true, false, false, store.PublishedCompleted},
		{"superseded", true, false, true, store.PublishedQueued},    // its job was to complete it skipped
		{"superseded", true, true, true, store.PublishedInProgress}, // … or cancelled
	}
	ids := make([]int64, len(cases))
	for i, c := range cases {
		if err := s.Pool.QueryRow(ctx, `INSERT INTO comparisons (assignment_id, pr_number, base_sha, head_sha, head_ref, status, check_run_id, started_at)
			VALUES ($1, $2, 'b', 'h', 'tidy', $3, CASE WHEN $4 THEN 100 + $2 END, CASE WHEN $5 THEN now() END) RETURNING id`,
			a.ID, i, c.status, c.checkRun, c.started).Scan(&ids[i]); err != nil {
			t.Fatal(err)
		}
		if c.pendingJob {
			if _, err := s.Pool.Exec(ctx, `INSERT INTO river_job (args, kind, max_attempts, queue, state) VALUES ($1, 'compare', 3, 'grade', 'retryable')`,
				fmt.Sprintf(`{"comparison_id": %d, "side": "head"}`, ids[i])); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Migrate(ctx, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		got, err := s.GetComparison(ctx, ids[i])
		if err != nil {
			t.Fatal(err)
		}
		if got.Published != c.want || got.CheckRunRequested != !c.checkRun {
			t.Errorf("%+v: published %q, check run requested %v; want %q, %v", c, got.Published, got.CheckRunRequested, c.want, !c.checkRun)
		}
	}
}
