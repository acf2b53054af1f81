package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/compare"
)

// IsRefactor reports whether a challenge is graded as a refactor: its pull requests compare base
// and head instead of its pushes being graded one by one.
func (s *Store) IsRefactor(ctx context.Context, slug string) (bool, error) {
	var formats []string
	err := s.Pool.QueryRow(ctx, `SELECT formats FROM challenges WHERE slug=$1`, slug).Scan(&formats)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("formats of %s: %w", slug, err)
	}
	return slices.Contains(formats, "refactor"), nil
}

// NewComparison is a pull request's base and head to compare.
type NewComparison struct {
	AssignmentID int64
	PR           int
	BaseSHA      string
	HeadSHA      string
	HeadRef      string
	DeliveryID   string
}

// Comparison is everything a worker needs to know of a comparison.
type Comparison struct {
	ID         int64
	Status     string
	CheckRunID *int64
	PR         int
	BaseSHA    string
	HeadSHA    string
	HeadRef    string
	// Base is the base's verdict and BaseMetrics its tree's measurements, once the base side
	// is done.
	Base        *grading.Verdict
	BaseMetrics *compare.Metrics
	Assignment  Assignment
	// StartedAt is when the base side first started (nil while queued).
	StartedAt *time.Time
	// Published is how far GitHub shows the comparison: none, queued, in_progress, completed,
	// commented.
	Published string
	// CheckRunRequested says a check run was asked of GitHub once, answered or not.
	CheckRunRequested bool
}

// CreateComparison records a queued comparison in tx and marks the older ones of the same pull
// request that have not completed as superseded by it. It returns the new id and the ids it
// superseded.
func CreateComparison(ctx context.Context, tx pgx.Tx, c NewComparison) (int64, []int64, error) {
	var id int64
	if err := tx.QueryRow(ctx, `INSERT INTO comparisons (assignment_id, pr_number, base_sha, head_sha, head_ref, delivery_id)
		VALUES ($1,$2,$3,$4,$5,NULLIF($6,'')) RETURNING id`, c.AssignmentID, c.PR, c.BaseSHA, c.HeadSHA, c.HeadRef, c.DeliveryID).Scan(&id); err != nil {
		return 0, nil, fmt.Errorf("insert comparison: %w", err)
	}
	rows, err := tx.Query(ctx, `UPDATE comparisons SET status='superseded', superseded_by=$1
		WHERE assignment_id=$2 AND pr_number=$3 AND id < $1 AND status IN ('queued','in_progress') RETURNING id`, id, c.AssignmentID, c.PR)
	if err != nil {
		return 0, nil, fmt.Errorf("supersede older comparisons: %w", err)
	}
	superseded, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	return id, superseded, err
}

// GetComparison loads a comparison with its assignment.
func (s *Store) GetComparison(ctx context.Context, id int64) (Comparison, error) {
	return getComparison(ctx, s.Pool, id, "")
}

// LockComparison loads a comparison in tx and locks its row until tx ends.
func LockComparison(ctx context.Context, tx pgx.Tx, id int64) (Comparison, error) {
	return getComparison(ctx, tx, id, " FOR UPDATE OF c")
}

func getComparison(ctx context.Context, q querier, id int64, lock string) (Comparison, error) {
	var c Comparison
	var repo *int64
	var base, metrics []byte
	err := q.QueryRow(ctx, `SELECT c.id, c.status, c.check_run_id, c.pr_number, c.base_sha, c.head_sha, c.head_ref, c.base_verdict, c.base_metrics,
		c.started_at, c.published, c.check_run_requested_at IS NOT NULL,
		a.id, a.installation_id, a.repo_id, a.repo_owner, a.repo_name, a.challenge, a.user_login, a.format, a.deadline
		FROM comparisons c JOIN assignments a ON a.id=c.assignment_id WHERE c.id=$1`+lock, id).
		Scan(&c.ID, &c.Status, &c.CheckRunID, &c.PR, &c.BaseSHA, &c.HeadSHA, &c.HeadRef, &base, &metrics,
			&c.StartedAt, &c.Published, &c.CheckRunRequested,
			&c.Assignment.ID, &c.Assignment.InstallationID, &repo, &c.Assignment.Owner, &c.Assignment.Name,
			&c.Assignment.Challenge, &c.Assignment.User, &c.Assignment.Format, &c.Assignment.Deadline)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, ErrNotFound
	}
	if err != nil {
		return c, err
	}
	if repo != nil {
		c.Assignment.RepoID = *repo
	}
	if base != nil {
		c.Base = new(grading.Verdict)
		if err := json.Unmarshal(base, c.Base); err != nil {
			return c, fmt.Errorf("comparison %d: base verdict: %w", id, err)
		}
	}
	if metrics != nil {
		c.BaseMetrics = new(compare.Metrics)
		if err := json.Unmarshal(metrics, c.BaseMetrics); err != nil {
			return c, fmt.Errorf("comparison %d: base metrics: %w", id, err)
		}
	}
	return c, nil
}

// StartComparison marks a comparison in progress. It returns false when it was superseded or
// completed meanwhile and must not be graded.
func (s *Store) StartComparison(ctx context.Context, id int64) (bool, error) {
	return StartComparisonTx(ctx, s.Pool, id)
}

// StartComparisonTx is StartComparison in a transaction (or on any connection): the compare
// worker starts a side and queues the comparison's publication together.
func StartComparisonTx(ctx context.Context, db interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}, id int64) (bool, error) {
	tag, err := db.Exec(ctx, `UPDATE comparisons SET status='in_progress', started_at=coalesce(started_at, now())
		WHERE id=$1 AND status IN ('queued','in_progress')`, id)
	return tag.RowsAffected() == 1, err
}

// SaveBase stores the base side's verdict and measurements in tx.
func SaveBase(ctx context.Context, tx pgx.Tx, id int64, v grading.Verdict, m *compare.Metrics) error {
	vb, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var mb []byte
	if m != nil {
		if mb, err = json.Marshal(m); err != nil {
			return err
		}
	}
	_, err = tx.Exec(ctx, `UPDATE comparisons SET base_verdict=$2, base_metrics=$3 WHERE id=$1`, id, vb, mb)
	return err
}

// CachedBase returns the base verdict and measurements an earlier comparison of the same
// assignment stored for baseSHA, if its grading was not Holdfast's failure; ok is false when
// there is none.
func (s *Store) CachedBase(ctx context.Context, assignment int64, baseSHA string) (v grading.Verdict, m *compare.Metrics, ok bool, err error) {
	var vb, mb []byte
	err = s.Pool.QueryRow(ctx, `SELECT base_verdict, base_metrics FROM comparisons
		WHERE assignment_id=$1 AND base_sha=$2 AND base_verdict IS NOT NULL AND base_verdict->>'status' <> 'grader_error'
		ORDER BY id DESC LIMIT 1`, assignment, baseSHA).Scan(&vb, &mb)
	if errors.Is(err, pgx.ErrNoRows) {
		return v, nil, false, nil
	}
	if err != nil {
		return v, nil, false, err
	}
	if err := json.Unmarshal(vb, &v); err != nil {
		return v, nil, false, err
	}
	if mb != nil {
		m = new(compare.Metrics)
		if err := json.Unmarshal(mb, m); err != nil {
			return v, nil, false, err
		}
	}
	return v, m, true, nil
}

// CompleteComparison stores the result in tx, unless the comparison was superseded; it returns
// whether it was still current.
func CompleteComparison(ctx context.Context, tx pgx.Tx, id int64, r compare.Result) (bool, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return false, err
	}
	tag, err := tx.Exec(ctx, `UPDATE comparisons SET status='completed', verdict_status=$2, score=$3, result=$4, completed_at=now()
		WHERE id=$1 AND status <> 'superseded'`, id, string(r.Status), r.Score, body)
	return tag.RowsAffected() == 1, err
}

// ComparisonResult returns the stored result of a completed comparison.
func (s *Store) ComparisonResult(ctx context.Context, id int64) (compare.Result, error) {
	var r compare.Result
	var body []byte
	err := s.Pool.QueryRow(ctx, `SELECT result FROM comparisons WHERE id=$1 AND result IS NOT NULL`, id).Scan(&body)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, ErrNotFound
	}
	if err != nil {
		return r, err
	}
	return r, json.Unmarshal(body, &r)
}

// LatestComparisonOfHead finds the newest comparison whose head is sha, for a re-run of its check
// run.
func (s *Store) LatestComparisonOfHead(ctx context.Context, assignment int64, sha string) (Comparison, error) {
	var id int64
	err := s.Pool.QueryRow(ctx, `SELECT id FROM comparisons WHERE assignment_id=$1 AND head_sha=$2 ORDER BY id DESC LIMIT 1`,
		assignment, sha).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return Comparison{}, ErrNotFound
	}
	if err != nil {
		return Comparison{}, err
	}
	return s.GetComparison(ctx, id)
}
