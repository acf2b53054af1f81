package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Publication states of a run, in the only order they are ever reached (migrations/0005).
const (
	PublishedNone       = "none"
	PublishedQueued     = "queued"
	PublishedInProgress = "in_progress"
	PublishedCompleted  = "completed"
	PublishedCommented  = "commented"
)

// publishedOrder is the SQL rank of a publication state.
const publishedOrder = `array_position(ARRAY['none','queued','in_progress','completed','commented'], %s)`

// ClaimPublication takes run id's publish lease for d unless another publisher holds an
// unexpired one, and returns the run as stored now. held is true when someone else has it.
// No lock or connection is kept while the caller talks to GitHub: the lease is a timestamp.
func (s *Store) ClaimPublication(ctx context.Context, id int64, d time.Duration) (run Run, held bool, err error) {
	tag, err := s.Pool.Exec(ctx, `UPDATE runs SET publish_lease = now() + make_interval(secs => $2)
		WHERE id=$1 AND (publish_lease IS NULL OR publish_lease < now())`, id, d.Seconds())
	if err != nil {
		return run, false, fmt.Errorf("claim run %d's publication: %w", id, err)
	}
	run, err = s.GetRun(ctx, id)
	if err != nil {
		return run, false, err
	}
	return run, tag.RowsAffected() == 0, nil
}

// ReleasePublication gives the lease back.
func (s *Store) ReleasePublication(ctx context.Context, id int64) error {
	_, err := s.Pool.Exec(ctx, `UPDATE runs SET publish_lease = NULL WHERE id=$1`, id)
	return err
}

// MarkCheckRunRequested records that a check run is about to be asked for, before the request:
// if its answer is lost, the next publisher searches GitHub for it before creating one.
func (s *Store) MarkCheckRunRequested(ctx context.Context, id int64) error {
	_, err := s.Pool.Exec(ctx, `UPDATE runs SET check_run_requested_at = COALESCE(check_run_requested_at, now()) WHERE id=$1`, id)
	return err
}

// SaveCheckRun stores the run's check run id, unless one is stored already; it returns the id
// the run has now.
func (s *Store) SaveCheckRun(ctx context.Context, id, checkRunID int64) (int64, error) {
	var got int64
	err := s.Pool.QueryRow(ctx, `UPDATE runs SET check_run_id = COALESCE(check_run_id, $2) WHERE id=$1 RETURNING check_run_id`,
		id, checkRunID).Scan(&got)
	return got, err
}

// SetPublished records that GitHub shows the run as far as state. It never moves backwards:
// an older or equal state leaves the row as it is.
func (s *Store) SetPublished(ctx context.Context, id int64, state string) error {
	_, err := s.Pool.Exec(ctx, `UPDATE runs SET published=$2, published_at=now()
		WHERE id=$1 AND `+fmt.Sprintf(publishedOrder, "published")+` < `+fmt.Sprintf(publishedOrder, "$2::text"), id, state)
	return err
}

// ClaimComment takes, for d, the lease of the sticky comment of one pull request and key (the
// challenge, or a refactor's key), and returns the comment known (0 when none) and the run it
// shows. held is true when another writer has an unexpired lease. Only the lease holder finds,
// creates or edits the comment, so two gradings finishing at once never make two.
func (s *Store) ClaimComment(ctx context.Context, assignment int64, pr int, key string, d time.Duration) (commentID, runID int64, held bool, err error) {
	err = s.Pool.QueryRow(ctx, `INSERT INTO pr_comments (assignment_id, pr_number, challenge, comment_id, run_id, lease_until)
		VALUES ($1, $2, $3, NULL, 0, now() + make_interval(secs => $4))
		ON CONFLICT (assignment_id, pr_number, challenge) DO UPDATE SET lease_until = EXCLUDED.lease_until
		WHERE pr_comments.lease_until IS NULL OR pr_comments.lease_until < now()
		RETURNING COALESCE(comment_id, 0), run_id`, assignment, pr, key, d.Seconds()).Scan(&commentID, &runID)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, true, nil
	}
	if err != nil {
		return 0, 0, false, fmt.Errorf("claim the comment of #%d: %w", pr, err)
	}
	return commentID, runID, false, nil
}

// ReleaseComment gives the comment's lease back, recording the comment id and the run it now
// shows when they are not 0. The run shown never goes back to an older one.
func (s *Store) ReleaseComment(ctx context.Context, assignment int64, pr int, key string, commentID, runID int64) error {
	_, err := s.Pool.Exec(ctx, `UPDATE pr_comments SET comment_id = COALESCE(NULLIF($4::bigint, 0), comment_id),
		run_id = GREATEST(run_id, $5), lease_until = NULL WHERE assignment_id=$1 AND pr_number=$2 AND challenge=$3`,
		assignment, pr, key, commentID, runID)
	return err
}

// UnpublishedRuns lists runs whose GitHub state lags their stored state, idle (no publisher's
// lease) and last changed before olderThan ago: what the reconciler hands to publish jobs.
func (s *Store) UnpublishedRuns(ctx context.Context, olderThan time.Duration, limit int) ([]int64, error) {
	rows, err := s.Pool.Query(ctx, `SELECT id FROM runs
		WHERE NOT final AND published <> 'commented'
		AND NOT (status = 'superseded' AND published = 'completed')
		AND NOT (status = 'queued' AND published = 'queued')
		AND NOT (status = 'in_progress' AND published = 'in_progress')
		AND (publish_lease IS NULL OR publish_lease < now())
		AND COALESCE(completed_at, started_at, created_at) < now() - make_interval(secs => $1)
		ORDER BY id LIMIT $2`, olderThan.Seconds(), limit)
	if err != nil {
		return nil, fmt.Errorf("find unpublished runs: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// OrphanedRuns lists runs that wait for a grading no job will do any more: queued or in
// progress, created before olderThan ago, with no grade job pending, running or scheduled (it
// was discarded, cancelled or lost with a database that went away mid-commit).
func (s *Store) OrphanedRuns(ctx context.Context, olderThan time.Duration, limit int) ([]int64, error) {
	rows, err := s.Pool.Query(ctx, `SELECT r.id FROM runs r
		WHERE NOT r.final AND r.status IN ('queued', 'in_progress') AND r.created_at < now() - make_interval(secs => $1)
		AND NOT EXISTS (SELECT 1 FROM river_job j WHERE j.kind = 'grade' AND j.args->>'run_id' = r.id::text
			AND j.state IN ('available', 'pending', 'running', 'retryable', 'scheduled'))
		ORDER BY r.id LIMIT $2`, olderThan.Seconds(), limit)
	if err != nil {
		return nil, fmt.Errorf("find orphaned runs: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}
