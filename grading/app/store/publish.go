package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Publication states of a run or a comparison, in the only order they are ever reached
// (migrations/0005 and 0006).
const (
	PublishedNone       = "none"
	PublishedQueued     = "queued"
	PublishedInProgress = "in_progress"
	PublishedCompleted  = "completed"
	PublishedCommented  = "commented"
)

// publishedStates are the publication states in that order.
var publishedStates = []string{PublishedNone, PublishedQueued, PublishedInProgress, PublishedCompleted, PublishedCommented}

// PublishedRank is state's place in the order of publication states, -1 for none of them.
func PublishedRank(state string) int { return slices.Index(publishedStates, state) }

// publishedOrder is the SQL rank of a publication state (%s), in the same order.
var publishedOrder = `array_position(ARRAY['` + strings.Join(publishedStates, `','`) + `'], %s)`

// Subject is what Holdfast publishes on GitHub as a check run and sticky comments: a run (a
// push's grading) or a comparison (a refactor pull request's). Both tables carry the same
// publication columns: published, publish_lease, check_run_id, check_run_requested_at.
type Subject int

// Subjects.
const (
	SubjectRun        Subject = iota + 1 // runs
	SubjectComparison                    // comparisons
)

// table is the subject's table; only these two names ever reach SQL.
func (s Subject) table() string {
	switch s {
	case SubjectRun:
		return "runs"
	case SubjectComparison:
		return "comparisons"
	}
	panic(fmt.Sprintf("store: unknown publication subject %d", int(s)))
}

func (s Subject) String() string {
	switch s {
	case SubjectRun:
		return "run"
	case SubjectComparison:
		return "comparison"
	}
	return fmt.Sprintf("subject(%d)", int(s))
}

// ClaimPublication takes the publish lease of subject id for d unless another publisher holds
// an unexpired one; held is true when someone else has it, and err is ErrNotFound when there is
// no such row. No lock or connection is kept while the caller talks to GitHub: the lease is a
// timestamp. The caller reads the subject after claiming it, so it sees what the last publisher
// stored.
func (s *Store) ClaimPublication(ctx context.Context, subject Subject, id int64, d time.Duration) (held bool, err error) {
	t := subject.table()
	tag, err := s.Pool.Exec(ctx, `UPDATE `+t+` SET publish_lease = now() + make_interval(secs => $2)
		WHERE id=$1 AND (publish_lease IS NULL OR publish_lease < now())`, id, d.Seconds())
	if err != nil {
		return false, fmt.Errorf("claim %s %d's publication: %w", subject, id, err)
	}
	if tag.RowsAffected() == 1 {
		return false, nil
	}
	var exists bool
	if err := s.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+t+` WHERE id=$1)`, id).Scan(&exists); err != nil {
		return false, err
	}
	if !exists {
		return false, ErrNotFound
	}
	return true, nil
}

// ReleasePublication gives the lease back.
func (s *Store) ReleasePublication(ctx context.Context, subject Subject, id int64) error {
	_, err := s.Pool.Exec(ctx, `UPDATE `+subject.table()+` SET publish_lease = NULL WHERE id=$1`, id)
	return err
}

// MarkCheckRunRequested records that a check run is about to be asked for, before the request:
// if its answer is lost, the next publisher searches GitHub for it before creating one.
func (s *Store) MarkCheckRunRequested(ctx context.Context, subject Subject, id int64) error {
	_, err := s.Pool.Exec(ctx, `UPDATE `+subject.table()+` SET check_run_requested_at = COALESCE(check_run_requested_at, now()) WHERE id=$1`, id)
	return err
}

// SaveCheckRun stores the subject's check run id, unless one is stored already; it returns the
// id the subject has now.
func (s *Store) SaveCheckRun(ctx context.Context, subject Subject, id, checkRunID int64) (int64, error) {
	var got int64
	err := s.Pool.QueryRow(ctx, `UPDATE `+subject.table()+` SET check_run_id = COALESCE(check_run_id, $2) WHERE id=$1 RETURNING check_run_id`,
		id, checkRunID).Scan(&got)
	return got, err
}

// SetPublished records that GitHub shows the subject as far as state. It never moves backwards:
// an older or equal state leaves the row as it is.
func (s *Store) SetPublished(ctx context.Context, subject Subject, id int64, state string) error {
	_, err := s.Pool.Exec(ctx, `UPDATE `+subject.table()+` SET published=$2, published_at=now()
		WHERE id=$1 AND `+fmt.Sprintf(publishedOrder, "published")+` < `+fmt.Sprintf(publishedOrder, "$2::text"), id, state)
	return err
}

// ClaimComment takes, for d, the lease of the sticky comment of one pull request and key (the
// challenge, or a refactor's key), and returns the comment known (0 when none) and the run or
// comparison it shows (their ids only ever grow within a key). held is true when another writer
// has an unexpired lease. Only the lease holder finds, creates or edits the comment, so two
// gradings finishing at once never make two.
func (s *Store) ClaimComment(ctx context.Context, assignment int64, pr int, key string, d time.Duration) (commentID, shownID int64, held bool, err error) {
	err = s.Pool.QueryRow(ctx, `INSERT INTO pr_comments (assignment_id, pr_number, challenge, comment_id, run_id, lease_until)
		VALUES ($1, $2, $3, NULL, 0, now() + make_interval(secs => $4))
		ON CONFLICT (assignment_id, pr_number, challenge) DO UPDATE SET lease_until = EXCLUDED.lease_until
		WHERE pr_comments.lease_until IS NULL OR pr_comments.lease_until < now()
		RETURNING COALESCE(comment_id, 0), run_id`, assignment, pr, key, d.Seconds()).Scan(&commentID, &shownID)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, true, nil
	}
	if err != nil {
		return 0, 0, false, fmt.Errorf("claim the comment of #%d: %w", pr, err)
	}
	return commentID, shownID, false, nil
}

// ReleaseComment gives the comment's lease back, recording the comment id and the run or
// comparison it now shows when they are not 0. What it shows never goes back to an older one.
func (s *Store) ReleaseComment(ctx context.Context, assignment int64, pr int, key string, commentID, shownID int64) error {
	_, err := s.Pool.Exec(ctx, `UPDATE pr_comments SET comment_id = COALESCE(NULLIF($4::bigint, 0), comment_id),
		run_id = GREATEST(run_id, $5), lease_until = NULL WHERE assignment_id=$1 AND pr_number=$2 AND challenge=$3`,
		assignment, pr, key, commentID, shownID)
	return err
}

// lagging is the condition on a runs or comparisons row whose GitHub state lags its stored
// state: not at its end (commented; completed for a superseded one), nor at the state it is in,
// with no publisher's lease, and last changed before $1 seconds ago.
const lagging = `published <> 'commented'
		AND NOT (status = 'superseded' AND published = 'completed')
		AND NOT (status = 'queued' AND published = 'queued')
		AND NOT (status = 'in_progress' AND published = 'in_progress')
		AND (publish_lease IS NULL OR publish_lease < now())
		AND COALESCE(completed_at, started_at, created_at) < now() - make_interval(secs => $1)`

// UnpublishedRuns lists runs whose GitHub state lags their stored state, idle (no publisher's
// lease) and last changed before olderThan ago: what the reconciler hands to publish jobs.
func (s *Store) UnpublishedRuns(ctx context.Context, olderThan time.Duration, limit int) ([]int64, error) {
	rows, err := s.Pool.Query(ctx, `SELECT id FROM runs WHERE NOT final AND `+lagging+` ORDER BY id LIMIT $2`, olderThan.Seconds(), limit)
	if err != nil {
		return nil, fmt.Errorf("find unpublished runs: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// UnpublishedComparisons is UnpublishedRuns for refactor comparisons.
func (s *Store) UnpublishedComparisons(ctx context.Context, olderThan time.Duration, limit int) ([]int64, error) {
	rows, err := s.Pool.Query(ctx, `SELECT id FROM comparisons WHERE `+lagging+` ORDER BY id LIMIT $2`, olderThan.Seconds(), limit)
	if err != nil {
		return nil, fmt.Errorf("find unpublished comparisons: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// pendingJob is the condition on river_job j of a job that may still run.
const pendingJob = `j.state IN ('available', 'pending', 'running', 'retryable', 'scheduled')`

// OrphanedRuns lists runs that wait for a grading no job will do any more: queued or in
// progress, created before olderThan ago, with no grade job pending, running or scheduled (it
// was discarded, cancelled or lost with a database that went away mid-commit).
func (s *Store) OrphanedRuns(ctx context.Context, olderThan time.Duration, limit int) ([]int64, error) {
	rows, err := s.Pool.Query(ctx, `SELECT r.id FROM runs r
		WHERE NOT r.final AND r.status IN ('queued', 'in_progress') AND r.created_at < now() - make_interval(secs => $1)
		AND NOT EXISTS (SELECT 1 FROM river_job j WHERE j.kind = 'grade' AND j.args->>'run_id' = r.id::text AND `+pendingJob+`)
		ORDER BY r.id LIMIT $2`, olderThan.Seconds(), limit)
	if err != nil {
		return nil, fmt.Errorf("find orphaned runs: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// OrphanedComparisons is OrphanedRuns for refactor comparisons: queued or in progress with no
// compare job (of either side) that may still run. The base's job queues the head's in the
// transaction that stores the base, so a comparison between its sides always has one.
func (s *Store) OrphanedComparisons(ctx context.Context, olderThan time.Duration, limit int) ([]int64, error) {
	rows, err := s.Pool.Query(ctx, `SELECT c.id FROM comparisons c
		WHERE c.status IN ('queued', 'in_progress') AND c.created_at < now() - make_interval(secs => $1)
		AND NOT EXISTS (SELECT 1 FROM river_job j WHERE j.kind = 'compare' AND j.args->>'comparison_id' = c.id::text AND `+pendingJob+`)
		ORDER BY c.id LIMIT $2`, olderThan.Seconds(), limit)
	if err != nil {
		return nil, fmt.Errorf("find orphaned comparisons: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}
