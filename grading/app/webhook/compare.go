package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/holdfast-ci/holdfast/grading/app/jobs"
	"github.com/holdfast-ci/holdfast/grading/app/store"
)

// A refactor challenge is graded per pull request, base against head: an opened, updated or
// reopened pull request queues a comparison; a push alone grades nothing (the pull request's
// synchronize event follows it); a re-run of a comparison's check run compares again.

// comparePullRequest queues the comparison of a pull request's base and head. lookupErr is the
// error of finding whether the challenge is a refactor, passed on so the caller stays one line.
func (h *Handler) comparePullRequest(ctx context.Context, delivery string, a store.Assignment, p payload, lookupErr error) (answer, error) {
	if lookupErr != nil {
		return answer{}, lookupErr
	}
	pr := p.PullRequest
	if !isSHA(pr.Base.SHA) || !isSHA(pr.Head.SHA) {
		return reply(http.StatusBadRequest, "pull request without a base and a head commit to compare"), nil
	}
	return h.queueComparison(ctx, delivery, store.NewComparison{AssignmentID: a.ID, PR: pr.Number,
		BaseSHA: pr.Base.SHA, HeadSHA: pr.Head.SHA, HeadRef: pr.Head.Ref, DeliveryID: delivery})
}

// refactorCommit answers a push or a re-run on a refactor challenge's repository.
func (h *Handler) refactorCommit(ctx context.Context, delivery string, a store.Assignment, sha string, rerun bool) (answer, error) {
	if !rerun {
		return reply(http.StatusAccepted, a.Challenge+" is a refactor: it is graded when a pull request opens or updates, its head against its base"), nil
	}
	last, err := h.store.LatestComparisonOfHead(ctx, a.ID, sha)
	if errors.Is(err, store.ErrNotFound) {
		return reply(http.StatusAccepted, "no pull request compares this commit: nothing to re-run"), nil
	}
	if err != nil {
		return answer{}, err
	}
	return h.queueComparison(ctx, delivery, store.NewComparison{AssignmentID: a.ID, PR: last.PR,
		BaseSHA: last.BaseSHA, HeadSHA: last.HeadSHA, HeadRef: last.HeadRef, DeliveryID: delivery})
}

// queueComparison stores a comparison and its first jobs in one transaction, once per delivery:
// its publication (the queued check run), its base's grading, and the publication of each
// comparison it superseded.
func (h *Handler) queueComparison(ctx context.Context, delivery string, c store.NewComparison) (answer, error) {
	var out answer
	err := pgx.BeginFunc(ctx, h.store.Pool, func(tx pgx.Tx) error {
		fresh, err := store.ClaimDelivery(ctx, tx, delivery, "compare")
		if err != nil || !fresh {
			out = reply(http.StatusOK, "delivery seen before: nothing new to do")
			return err
		}
		id, superseded, err := store.CreateComparison(ctx, tx, c)
		if err != nil {
			return err
		}
		batch := []river.InsertManyParams{
			{Args: jobs.PublishArgs{ComparisonID: id}},
			{Args: jobs.CompareArgs{ComparisonID: id, Side: jobs.SideBase}},
		}
		for _, old := range superseded { // their check runs end (skipped or cancelled) now, not when a runner gets to them
			batch = append(batch, river.InsertManyParams{Args: jobs.PublishArgs{ComparisonID: old}})
		}
		if _, err := h.river.InsertManyTx(ctx, tx, batch); err != nil {
			return fmt.Errorf("enqueue comparison %d: %w", id, err)
		}
		out = answer{http.StatusAccepted, map[string]any{"result": "queued", "comparison_id": id, "superseded": superseded}}
		return nil
	})
	return out, err
}

func isSHA(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
