package store_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/compare"
	"github.com/holdfast-ci/holdfast/grading/store"
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
