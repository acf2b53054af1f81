package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/holdfast-ci/holdfast/grading"
)

// Take-home states, in the order they are reached.
const (
	TakeHomeOpen    = "open"    // before the deadline: every push is graded as in practice
	TakeHomeClosing = "closing" // the deadline passed; the final commit is fixed
	TakeHomeGrading = "grading" // push access removed; the final grading is queued
	TakeHomeDone    = "done"    // the final verdict is stored
)

// SettleTime is how long after a deadline a take-home is closed. A push delivery stamped just
// before the deadline (its transaction's start) may still be committing at the deadline; after
// this margin every such transaction has ended, so the closing step sees every push that
// arrived in time.
const SettleTime = 5 * time.Second

// ErrDeadlinePassed is returned for an extension asked once the deadline has passed.
var ErrDeadlinePassed = errors.New("the deadline has already passed")

// ErrInvalid wraps a request the store refuses; its message says what to change.
var ErrInvalid = errors.New("invalid request")

// TakeHome is a take-home assignment and its way to a final grade.
type TakeHome struct {
	Assignment
	Branch          string
	Seed            *int64
	InvitedBy       string
	InvitationSHA   string
	State           string
	FinalSHA        string
	FinalPushedAt   *time.Time
	AccessRevokedAt *time.Time
	FinalRunID      *int64
	ClosedAt        *time.Time
	CreatedAt       time.Time
	// FinalStatus and FinalScore are the final run's verdict, once there is one.
	FinalStatus string
	FinalScore  *int
}

// CreateTakeHome records a take-home's assignment and its take-home row in one transaction.
func (s *Store) CreateTakeHome(ctx context.Context, th TakeHome) (TakeHome, error) {
	th.Format = "take-home"
	if th.Deadline == nil {
		return th, fmt.Errorf("%w: a take-home needs a deadline", ErrInvalid)
	}
	if th.Branch == "" {
		th.Branch = "main"
	}
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO assignments (installation_id, repo_id, repo_owner, repo_name, challenge, user_login, format, deadline)
			VALUES ($1, NULLIF($2, 0), $3, $4, $5, $6, 'take-home', $7) RETURNING id`,
			th.InstallationID, th.RepoID, th.Owner, th.Name, th.Challenge, th.User, th.Deadline).Scan(&th.ID); err != nil {
			return fmt.Errorf("create assignment for %s/%s: %w", th.Owner, th.Name, err)
		}
		return tx.QueryRow(ctx, `INSERT INTO takehomes (assignment_id, branch, seed, invited_by, invitation_sha)
			VALUES ($1, $2, $3, $4, $5) RETURNING state, created_at`, th.ID, th.Branch, th.Seed, th.InvitedBy, th.InvitationSHA).
			Scan(&th.State, &th.CreatedAt)
	})
	return th, err
}

const takeHomeColumns = `a.id, a.installation_id, COALESCE(a.repo_id, 0), a.repo_owner, a.repo_name, a.challenge, a.user_login, a.format, a.deadline,
	t.branch, t.seed, t.invited_by, t.invitation_sha, t.state, COALESCE(t.final_sha, ''), t.final_pushed_at, t.access_revoked_at,
	t.final_run_id, t.closed_at, t.created_at, COALESCE(r.verdict_status, ''), r.score
	FROM takehomes t JOIN assignments a ON a.id = t.assignment_id LEFT JOIN runs r ON r.id = t.final_run_id AND r.status = 'completed'`

func scanTakeHome(row pgx.Row) (TakeHome, error) {
	var t TakeHome
	err := row.Scan(&t.ID, &t.InstallationID, &t.RepoID, &t.Owner, &t.Name, &t.Challenge, &t.User, &t.Format, &t.Deadline,
		&t.Branch, &t.Seed, &t.InvitedBy, &t.InvitationSHA, &t.State, &t.FinalSHA, &t.FinalPushedAt, &t.AccessRevokedAt,
		&t.FinalRunID, &t.ClosedAt, &t.CreatedAt, &t.FinalStatus, &t.FinalScore)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, ErrNotFound
	}
	return t, err
}

// TakeHome loads a take-home by its assignment id, or ErrNotFound.
func (s *Store) TakeHome(ctx context.Context, id int64) (TakeHome, error) {
	return scanTakeHome(s.Pool.QueryRow(ctx, `SELECT `+takeHomeColumns+` WHERE t.assignment_id=$1`, id))
}

// TakeHomeByRepo loads the take-home of owner/name, or ErrNotFound.
func (s *Store) TakeHomeByRepo(ctx context.Context, owner, name string) (TakeHome, error) {
	return scanTakeHome(s.Pool.QueryRow(ctx, `SELECT `+takeHomeColumns+`
		WHERE lower(a.repo_owner)=lower($1) AND lower(a.repo_name)=lower($2)`, owner, name))
}

// TakeHomes lists every take-home, the nearest deadline first, for the reviewers' dashboard
// and the CSV export.
func (s *Store) TakeHomes(ctx context.Context) ([]TakeHome, error) {
	rows, err := s.Pool.Query(ctx, `SELECT `+takeHomeColumns+` ORDER BY a.deadline, a.id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []TakeHome
	for rows.Next() {
		t, err := scanTakeHome(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// Extension is one recorded deadline extension.
type Extension struct {
	By       string
	At       time.Time
	Old, New time.Time
}

// ExtendDeadline moves a take-home's deadline to a later one and records who did it. It fails
// with ErrDeadlinePassed once the deadline has passed (by the database's clock, the one push
// times are recorded with), and with ErrInvalid for a new deadline not after the old one.
func (s *Store) ExtendDeadline(ctx context.Context, id int64, by string, to time.Time) (Extension, error) {
	ext := Extension{By: by, New: to}
	if strings.TrimSpace(by) == "" {
		return ext, fmt.Errorf("%w: say who extends the deadline", ErrInvalid)
	}
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		var state string
		var passed bool
		err := tx.QueryRow(ctx, `SELECT t.state, a.deadline, a.deadline <= now() FROM takehomes t JOIN assignments a ON a.id = t.assignment_id
			WHERE t.assignment_id=$1 FOR UPDATE OF t, a`, id).Scan(&state, &ext.Old, &passed)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if passed || state != TakeHomeOpen {
			return fmt.Errorf("%w (it was %s): the take-home is closed and cannot be extended", ErrDeadlinePassed, ext.Old.UTC().Format(time.RFC3339))
		}
		if !to.After(ext.Old) {
			return fmt.Errorf("%w: the new deadline %s is not after the current one, %s", ErrInvalid,
				to.UTC().Format(time.RFC3339), ext.Old.UTC().Format(time.RFC3339))
		}
		if _, err := tx.Exec(ctx, `UPDATE assignments SET deadline=$2 WHERE id=$1`, id, to); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `INSERT INTO deadline_extensions (assignment_id, extended_by, old_deadline, new_deadline)
			VALUES ($1, $2, $3, $4) RETURNING extended_at`, id, by, ext.Old, to).Scan(&ext.At)
	})
	return ext, err
}

// Extensions lists a take-home's extensions, oldest first.
func (s *Store) Extensions(ctx context.Context, id int64) ([]Extension, error) {
	rows, err := s.Pool.Query(ctx, `SELECT extended_by, extended_at, old_deadline, new_deadline FROM deadline_extensions
		WHERE assignment_id=$1 ORDER BY id`, id)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Extension, error) {
		var e Extension
		return e, r.Scan(&e.By, &e.At, &e.Old, &e.New)
	})
}

// DueTakeHomes lists the take-homes whose deadline (plus SettleTime) has passed and whose push
// access or final grading is not settled yet: what the deadline job must act on.
func (s *Store) DueTakeHomes(ctx context.Context) ([]int64, error) {
	rows, err := s.Pool.Query(ctx, `SELECT t.assignment_id FROM takehomes t JOIN assignments a ON a.id = t.assignment_id
		WHERE t.state IN ('open', 'closing') AND a.deadline + $1::interval <= now() ORDER BY a.deadline`, SettleTime.String())
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// FreezeTakeHome fixes the final commit of a take-home whose deadline (plus SettleTime) has
// passed: the last commit pushed to its branch whose push Holdfast received before the
// deadline. A commit is dated by its first push, so a later re-run or re-push of an older
// commit does not make it the last; commits pushed after the deadline, and force-pushes that
// rewrite history, do not count. Without any push by the candidate it is the invitation
// commit. It returns the take-home as it now is; for one not due, or past this step, it changes
// nothing.
func (s *Store) FreezeTakeHome(ctx context.Context, id int64) (TakeHome, error) {
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		var state, branch, invitation string
		var deadline time.Time
		var due bool
		err := tx.QueryRow(ctx, `SELECT t.state, t.branch, t.invitation_sha, a.deadline, a.deadline + $2::interval <= now()
			FROM takehomes t JOIN assignments a ON a.id = t.assignment_id WHERE t.assignment_id=$1 FOR UPDATE OF t, a`,
			id, SettleTime.String()).Scan(&state, &branch, &invitation, &deadline, &due)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil || state != TakeHomeOpen || !due {
			return err
		}
		sha, at := invitation, (*time.Time)(nil)
		var pushed time.Time
		err = tx.QueryRow(ctx, `SELECT sha, min(created_at) AS first FROM submissions
			WHERE assignment_id=$1 AND ref=$2 AND sha <> $3 AND pusher NOT LIKE '%[bot]' AND delivery_id IS NOT NULL
			GROUP BY sha HAVING min(created_at) <= $4 ORDER BY first DESC, max(id) DESC LIMIT 1`,
			id, "refs/heads/"+branch, invitation, deadline).Scan(&sha, &pushed)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return fmt.Errorf("find the last push before the deadline: %w", err)
		default:
			at = &pushed
		}
		_, err = tx.Exec(ctx, `UPDATE takehomes SET state='closing', final_sha=$2, final_pushed_at=$3 WHERE assignment_id=$1`, id, sha, at)
		return err
	})
	if err != nil {
		return TakeHome{}, fmt.Errorf("close take-home %d: %w", id, err)
	}
	return s.TakeHome(ctx, id)
}

// MarkAccessRevoked records that the candidate's push access was removed.
func (s *Store) MarkAccessRevoked(ctx context.Context, id int64) error {
	_, err := s.Pool.Exec(ctx, `UPDATE takehomes SET access_revoked_at=now() WHERE assignment_id=$1 AND access_revoked_at IS NULL`, id)
	return err
}

// QueueFinalRun creates, in tx, the final run of a take-home in state closing (a submission of
// final_sha outside any branch, so no push supersedes it) and moves the take-home to grading.
// It returns the run's id, and false when the take-home was not in state closing (nothing
// done).
func QueueFinalRun(ctx context.Context, tx pgx.Tx, id int64) (int64, bool, error) {
	var sha, branch string
	err := tx.QueryRow(ctx, `SELECT COALESCE(final_sha, ''), branch FROM takehomes WHERE assignment_id=$1 AND state='closing' FOR UPDATE`, id).
		Scan(&sha, &branch)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	var subID, runID int64
	if err := tx.QueryRow(ctx, `INSERT INTO submissions (assignment_id, sha, ref, pusher) VALUES ($1, $2, $3, 'holdfast') RETURNING id`,
		id, sha, "refs/heads/"+branch).Scan(&subID); err != nil {
		return 0, false, fmt.Errorf("insert final submission: %w", err)
	}
	if err := tx.QueryRow(ctx, `INSERT INTO runs (submission_id, branch, final) VALUES ($1, '', true) RETURNING id`, subID).Scan(&runID); err != nil {
		return 0, false, fmt.Errorf("insert final run: %w", err)
	}
	_, err = tx.Exec(ctx, `UPDATE takehomes SET state='grading', final_run_id=$2 WHERE assignment_id=$1`, id, runID)
	return runID, err == nil, err
}

// CompleteFinalRun stores the final verdict in tx and closes the take-home. It returns false
// when the take-home was done already (a repeated job).
func CompleteFinalRun(ctx context.Context, tx pgx.Tx, id, runID int64, v grading.Verdict) (bool, error) {
	tag, err := tx.Exec(ctx, `UPDATE takehomes SET state='done', closed_at=now() WHERE assignment_id=$1 AND state='grading' AND final_run_id=$2`, id, runID)
	if err != nil || tag.RowsAffected() == 0 {
		return false, err
	}
	if _, err := CompleteRun(ctx, tx, runID, v); err != nil {
		return false, err
	}
	return true, nil
}

// Push is one push (or re-run request) Holdfast received for an assignment, with the latest
// grading of it.
type Push struct {
	SubmissionID int64
	SHA, Branch  string
	Pusher       string
	At           time.Time // when the delivery arrived
	RunID        int64
	RunStatus    string // queued, in_progress, completed, superseded
	Verdict      string // the verdict's status, once completed
	Score        *int
	// Repeat is set when this commit was pushed (or re-run) before: its first push dates it.
	Repeat bool
}

// Pushes lists the pushes of an assignment in the order they arrived (final runs excluded).
func (s *Store) Pushes(ctx context.Context, assignmentID int64) ([]Push, error) {
	rows, err := s.Pool.Query(ctx, `SELECT s.id, s.sha, s.ref, s.pusher, s.created_at, r.id, r.status, COALESCE(r.verdict_status, ''), r.score
		FROM submissions s JOIN runs r ON r.submission_id = s.id
		WHERE s.assignment_id=$1 AND NOT r.final ORDER BY s.created_at, s.id, r.id`, assignmentID)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Push, error) {
		var p Push
		err := r.Scan(&p.SubmissionID, &p.SHA, &p.Branch, &p.Pusher, &p.At, &p.RunID, &p.RunStatus, &p.Verdict, &p.Score)
		p.Branch = strings.TrimPrefix(p.Branch, "refs/heads/")
		return p, err
	})
	seen := map[string]bool{}
	for i := range out {
		out[i].Repeat = seen[out[i].SHA]
		seen[out[i].SHA] = true
	}
	return out, err
}

// RunRow is a run as listed on the reviewers' pages.
type RunRow struct {
	RunID        int64
	AssignmentID int64
	Owner, Name  string
	User         string
	Challenge    string
	Format       string
	SHA, Branch  string
	Pusher       string
	PushedAt     time.Time
	Status       string // queued, in_progress, completed, superseded
	Verdict      string // the verdict's status, once completed
	Score        *int
	Final        bool
	CompletedAt  *time.Time
}

const runRowColumns = `r.id, a.id, a.repo_owner, a.repo_name, a.user_login, a.challenge, a.format, s.sha, r.branch, s.pusher,
	s.created_at, r.status, COALESCE(r.verdict_status, ''), r.score, r.final, r.completed_at
	FROM runs r JOIN submissions s ON s.id = r.submission_id JOIN assignments a ON a.id = s.assignment_id`

func collectRunRows(rows pgx.Rows, err error) ([]RunRow, error) {
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (RunRow, error) {
		var x RunRow
		return x, r.Scan(&x.RunID, &x.AssignmentID, &x.Owner, &x.Name, &x.User, &x.Challenge, &x.Format, &x.SHA, &x.Branch,
			&x.Pusher, &x.PushedAt, &x.Status, &x.Verdict, &x.Score, &x.Final, &x.CompletedAt)
	})
}

// ChallengeRuns lists a challenge's runs, newest first, at most limit.
func (s *Store) ChallengeRuns(ctx context.Context, slug string, limit int) ([]RunRow, error) {
	return collectRunRows(s.Pool.Query(ctx, `SELECT `+runRowColumns+` WHERE a.challenge=$1 ORDER BY r.id DESC LIMIT $2`, slug, limit))
}

// AssignmentRuns lists an assignment's runs, oldest first: its score history.
func (s *Store) AssignmentRuns(ctx context.Context, assignmentID int64) ([]RunRow, error) {
	return collectRunRows(s.Pool.Query(ctx, `SELECT `+runRowColumns+` WHERE a.id=$1 ORDER BY r.id`, assignmentID))
}

// GetRunRow loads one run as listed, or ErrNotFound.
func (s *Store) GetRunRow(ctx context.Context, id int64) (RunRow, error) {
	rows, err := collectRunRows(s.Pool.Query(ctx, `SELECT `+runRowColumns+` WHERE r.id=$1`, id))
	if err == nil && len(rows) == 0 {
		err = ErrNotFound
	}
	if err != nil {
		return RunRow{}, err
	}
	return rows[0], nil
}

// ChallengeSummary counts a challenge's assignments and runs.
type ChallengeSummary struct {
	Slug, Title       string
	Assignments, Runs int
	TakeHomes         int
}

// ChallengeSummaries lists every challenge of the catalog with its counts.
func (s *Store) ChallengeSummaries(ctx context.Context) ([]ChallengeSummary, error) {
	rows, err := s.Pool.Query(ctx, `SELECT c.slug, c.title,
		(SELECT count(*) FROM assignments a WHERE a.challenge = c.slug),
		(SELECT count(*) FROM runs r JOIN submissions s ON s.id = r.submission_id JOIN assignments a ON a.id = s.assignment_id WHERE a.challenge = c.slug),
		(SELECT count(*) FROM assignments a WHERE a.challenge = c.slug AND a.format = 'take-home')
		FROM challenges c ORDER BY c.slug`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (ChallengeSummary, error) {
		var c ChallengeSummary
		return c, r.Scan(&c.Slug, &c.Title, &c.Assignments, &c.Runs, &c.TakeHomes)
	})
}

// GetAssignment loads an assignment by id, or ErrNotFound.
func (s *Store) GetAssignment(ctx context.Context, id int64) (Assignment, error) {
	var a Assignment
	err := s.Pool.QueryRow(ctx, `SELECT id, installation_id, COALESCE(repo_id, 0), repo_owner, repo_name, challenge, user_login, format, deadline
		FROM assignments WHERE id=$1`, id).Scan(&a.ID, &a.InstallationID, &a.RepoID, &a.Owner, &a.Name, &a.Challenge, &a.User, &a.Format, &a.Deadline)
	if errors.Is(err, pgx.ErrNoRows) {
		return a, ErrNotFound
	}
	return a, err
}

// TimelineEntry is a push as a take-home's commit timeline shows it.
type TimelineEntry struct {
	Push
	AfterDeadline bool // received after the deadline: never graded as final
	Invitation    bool // Holdfast's own invitation commit, not the candidate's
	Final         bool // the commit graded as final
}

// Timeline marks a take-home's pushes for reviewers.
func Timeline(th TakeHome, pushes []Push) []TimelineEntry {
	out := make([]TimelineEntry, len(pushes))
	for i, p := range pushes {
		out[i] = TimelineEntry{Push: p, AfterDeadline: th.Deadline != nil && p.At.After(*th.Deadline),
			Invitation: p.SHA == th.InvitationSHA || strings.HasSuffix(p.Pusher, "[bot]"),
			Final:      th.FinalSHA != "" && p.SHA == th.FinalSHA && !p.Repeat}
	}
	return out
}

// Spent is how long a candidate worked, as far as pushes show it.
type Spent struct {
	Pushes      int // the candidate's pushes received before the deadline
	First, Last time.Time
	Spent       time.Duration // from the first to the last of them
}

// TimeSpent measures a take-home from the candidate's first to last push before the deadline
// (Holdfast's invitation commit and re-runs excluded).
func TimeSpent(th TakeHome, pushes []Push) Spent {
	var s Spent
	for _, e := range Timeline(th, pushes) {
		if e.Invitation || e.AfterDeadline || e.Repeat {
			continue
		}
		if s.Pushes == 0 {
			s.First = e.At
		}
		s.Last, s.Pushes = e.At, s.Pushes+1
	}
	s.Spent = s.Last.Sub(s.First)
	return s
}
