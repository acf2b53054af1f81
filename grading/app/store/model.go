package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/holdfast-ci/holdfast/grading"
)

// SyncChallenges inserts or updates the challenges table from the catalog: each challenge's
// slug, title, difficulty, languages and formats (its scenarios and limits stay with the
// grader).
func (s *Store) SyncChallenges(ctx context.Context, cs []grading.Challenge) error {
	for _, c := range cs {
		if c.Languages == nil {
			c.Languages = []string{}
		}
		if c.Formats == nil {
			c.Formats = []string{}
		}
		if _, err := s.Pool.Exec(ctx, `INSERT INTO challenges (slug, title, difficulty, languages, formats) VALUES ($1,$2,$3,$4,$5)
			ON CONFLICT (slug) DO UPDATE SET title=$2, difficulty=$3, languages=$4, formats=$5, updated_at=now()`,
			c.Slug, c.Title, c.Difficulty, c.Languages, c.Formats); err != nil {
			return fmt.Errorf("sync challenge %s: %w", c.Slug, err)
		}
	}
	return nil
}

// Installation records an installation of the App.
func (s *Store) UpsertInstallation(ctx context.Context, id int64, login, typ string) error {
	_, err := s.Pool.Exec(ctx, `INSERT INTO installations (id, account_login, account_type) VALUES ($1,$2,$3)
		ON CONFLICT (id) DO UPDATE SET account_login=$2, account_type=$3`, id, login, typ)
	return err
}

// DeleteInstallation forgets an installation and its repositories.
func (s *Store) DeleteInstallation(ctx context.Context, id int64) error {
	_, err := s.Pool.Exec(ctx, `DELETE FROM installations WHERE id=$1`, id)
	return err
}

// Repo is a repository an installation can see.
type Repo struct {
	ID       int64
	FullName string
}

// SetInstallationRepos adds and removes repositories of an installation.
func (s *Store) SetInstallationRepos(ctx context.Context, installation int64, added, removed []Repo) error {
	return pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		for _, r := range added {
			if _, err := tx.Exec(ctx, `INSERT INTO installation_repos (installation_id, repo_id, full_name) VALUES ($1,$2,$3)
				ON CONFLICT DO NOTHING`, installation, r.ID, r.FullName); err != nil {
				return err
			}
		}
		for _, r := range removed {
			if _, err := tx.Exec(ctx, `DELETE FROM installation_repos WHERE installation_id=$1 AND repo_id=$2`, installation, r.ID); err != nil {
				return err
			}
		}
		return nil
	})
}

// Assignment is a learner's repository for one challenge.
type Assignment struct {
	ID             int64
	InstallationID int64
	RepoID         int64
	Owner, Name    string
	Challenge      string
	User           string
	Format         string
	Deadline       *time.Time
}

// CreateAssignment records an assignment; the repository must not have one already.
func (s *Store) CreateAssignment(ctx context.Context, a Assignment) (Assignment, error) {
	if a.Format == "" {
		a.Format = "practice"
	}
	err := s.Pool.QueryRow(ctx, `INSERT INTO assignments (installation_id, repo_id, repo_owner, repo_name, challenge, user_login, format, deadline)
		VALUES ($1, NULLIF($2, 0), $3, $4, $5, $6, $7, $8) RETURNING id`,
		a.InstallationID, a.RepoID, a.Owner, a.Name, a.Challenge, a.User, a.Format, a.Deadline).Scan(&a.ID)
	if err != nil {
		return a, fmt.Errorf("create assignment for %s/%s: %w", a.Owner, a.Name, err)
	}
	return a, nil
}

// AssignmentByRepo finds the assignment of a repository, by id or else by name.
func (s *Store) AssignmentByRepo(ctx context.Context, repoID int64, owner, name string) (Assignment, error) {
	var a Assignment
	var repo *int64
	err := s.Pool.QueryRow(ctx, `SELECT id, installation_id, repo_id, repo_owner, repo_name, challenge, user_login, format, deadline
		FROM assignments WHERE repo_id=$1 OR (lower(repo_owner)=lower($2) AND lower(repo_name)=lower($3))
		ORDER BY (repo_id=$1) DESC NULLS LAST LIMIT 1`, repoID, owner, name).
		Scan(&a.ID, &a.InstallationID, &repo, &a.Owner, &a.Name, &a.Challenge, &a.User, &a.Format, &a.Deadline)
	if errors.Is(err, pgx.ErrNoRows) {
		return a, ErrNotFound
	}
	if repo != nil {
		a.RepoID = *repo
	}
	return a, err
}

// ClaimDelivery records a webhook delivery id in tx; false means it was seen before.
func ClaimDelivery(ctx context.Context, tx pgx.Tx, id, event string) (bool, error) {
	tag, err := tx.Exec(ctx, `INSERT INTO deliveries (id, event) VALUES ($1, $2) ON CONFLICT DO NOTHING`, id, event)
	if err != nil {
		return false, fmt.Errorf("record delivery: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// Submission is one commit to grade.
type Submission struct {
	AssignmentID int64
	SHA, Ref     string
	Branch       string
	Pusher       string
	DeliveryID   string
	// ReceivedAt is when the push counts as received; zero is now. A delivery recovered from
	// GitHub counts from GitHub's first attempt (OriginalDeliveryTime).
	ReceivedAt time.Time
}

// CreateRun records a submission and a queued run for it in tx, and marks the older runs of the
// same branch that have not completed as superseded by it. It returns the new run's id and the
// ids of the runs it superseded.
func CreateRun(ctx context.Context, tx pgx.Tx, sub Submission) (int64, []int64, error) {
	var subID, runID int64
	var received *time.Time
	if !sub.ReceivedAt.IsZero() {
		received = &sub.ReceivedAt
	}
	if err := tx.QueryRow(ctx, `INSERT INTO submissions (assignment_id, sha, ref, pusher, delivery_id, created_at)
		VALUES ($1,$2,$3,$4,NULLIF($5,''),COALESCE($6, now()))
		RETURNING id`, sub.AssignmentID, sub.SHA, sub.Ref, sub.Pusher, sub.DeliveryID, received).Scan(&subID); err != nil {
		return 0, nil, fmt.Errorf("insert submission: %w", err)
	}
	if err := tx.QueryRow(ctx, `INSERT INTO runs (submission_id, branch) VALUES ($1, $2) RETURNING id`, subID, sub.Branch).Scan(&runID); err != nil {
		return 0, nil, fmt.Errorf("insert run: %w", err)
	}
	// Pushes are ordered by when they were received (a recovered delivery by GitHub's first
	// attempt), not by when they arrived here: the recovery job redelivers newest first, and a
	// late older push must never supersede a newer one.
	var at time.Time
	if err := tx.QueryRow(ctx, `SELECT created_at FROM submissions WHERE id=$1`, subID).Scan(&at); err != nil {
		return 0, nil, err
	}
	var newer int64
	err := tx.QueryRow(ctx, `SELECT r.id FROM runs r JOIN submissions s ON s.id=r.submission_id
		WHERE s.assignment_id=$1 AND r.branch=$2 AND r.id <> $3 AND s.created_at > $4
		ORDER BY s.created_at DESC, r.id DESC LIMIT 1`, sub.AssignmentID, sub.Branch, runID, at).Scan(&newer)
	switch {
	case err == nil: // a newer push of the branch is known: this one is stale from the start
		if _, err := tx.Exec(ctx, `UPDATE runs SET status='superseded', superseded_by=$2 WHERE id=$1`, runID, newer); err != nil {
			return 0, nil, fmt.Errorf("supersede the late run: %w", err)
		}
		return runID, nil, nil
	case !errors.Is(err, pgx.ErrNoRows):
		return 0, nil, fmt.Errorf("look for newer runs: %w", err)
	}
	rows, err := tx.Query(ctx, `UPDATE runs r SET status='superseded', superseded_by=$1
		FROM submissions s WHERE r.submission_id=s.id AND s.assignment_id=$2 AND r.branch=$3
		AND r.id <> $1 AND r.status IN ('queued','in_progress') AND s.created_at <= $4 RETURNING r.id`,
		runID, sub.AssignmentID, sub.Branch, at)
	if err != nil {
		return 0, nil, fmt.Errorf("supersede older runs: %w", err)
	}
	superseded, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	return runID, superseded, err
}

// Run is everything a worker needs to know of a run.
type Run struct {
	ID           int64
	Status       string
	Attempt      int
	CheckRunID   *int64
	SupersededBy *int64
	Branch       string
	SHA          string
	Assignment   Assignment
	// Final marks a take-home's final run, which is never published on GitHub.
	Final bool
	// StartedAt is when grading last started (nil while queued).
	StartedAt *time.Time
	// Published is how far GitHub shows the run: none, queued, in_progress, completed, commented.
	Published string
	// CheckRunRequested says a check run was asked of GitHub once, answered or not.
	CheckRunRequested bool
	// ReportToken makes the run's learner report's link, /runs/{ReportToken}.
	ReportToken string
}

// GetRun loads a run with its submission and assignment.
func (s *Store) GetRun(ctx context.Context, id int64) (Run, error) {
	return getRun(ctx, s.Pool, id, "")
}

// LockRun loads a run in tx and locks its row until tx ends, so that two workers never create
// two check runs or publish over each other.
func LockRun(ctx context.Context, tx pgx.Tx, id int64) (Run, error) {
	return getRun(ctx, tx, id, " FOR UPDATE OF r")
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func getRun(ctx context.Context, q querier, id int64, lock string) (Run, error) {
	var r Run
	var repo *int64
	err := q.QueryRow(ctx, `SELECT r.id, r.status, r.attempt, r.check_run_id, r.superseded_by, r.branch, s.sha,
		r.final, r.started_at, r.published, r.check_run_requested_at IS NOT NULL, r.report_token,
		a.id, a.installation_id, a.repo_id, a.repo_owner, a.repo_name, a.challenge, a.user_login, a.format, a.deadline
		FROM runs r JOIN submissions s ON s.id=r.submission_id JOIN assignments a ON a.id=s.assignment_id
		WHERE r.id=$1`+lock, id).Scan(&r.ID, &r.Status, &r.Attempt, &r.CheckRunID, &r.SupersededBy, &r.Branch, &r.SHA,
		&r.Final, &r.StartedAt, &r.Published, &r.CheckRunRequested, &r.ReportToken,
		&r.Assignment.ID, &r.Assignment.InstallationID, &repo, &r.Assignment.Owner, &r.Assignment.Name,
		&r.Assignment.Challenge, &r.Assignment.User, &r.Assignment.Format, &r.Assignment.Deadline)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, ErrNotFound
	}
	if repo != nil {
		r.Assignment.RepoID = *repo
	}
	return r, err
}

// StartRun marks a run in progress and counts the attempt. It returns false when the run was
// superseded meanwhile and must not be graded.
func (s *Store) StartRun(ctx context.Context, id int64) (bool, error) {
	return StartRunTx(ctx, s.Pool, id)
}

// StartRunTx is StartRun in a transaction (or on any connection): the grade worker starts a
// run and queues its publication together.
func StartRunTx(ctx context.Context, db interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}, id int64) (bool, error) {
	tag, err := db.Exec(ctx, `UPDATE runs SET status='in_progress', attempt=attempt+1, started_at=now()
		WHERE id=$1 AND status IN ('queued','in_progress')`, id)
	return tag.RowsAffected() == 1, err
}

// CompleteRun stores a verdict and its scenario results in tx, unless the run was superseded;
// it returns whether the run was still current.
func CompleteRun(ctx context.Context, tx pgx.Tx, id int64, v grading.Verdict) (bool, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return false, err
	}
	tag, err := tx.Exec(ctx, `UPDATE runs SET status='completed', verdict_status=$2, score=$3, verdict=$4, completed_at=now()
		WHERE id=$1 AND status <> 'superseded'`, id, string(v.Status), v.Score, body)
	if err != nil || tag.RowsAffected() == 0 {
		return false, err
	}
	for i, r := range v.Scenarios {
		var failure []byte
		if r.Failure != nil {
			failure, _ = json.Marshal(r.Failure)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO scenario_results (run_id, position, slug, visibility, weight, outcome, duration_ms, failure)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT (run_id, slug) DO NOTHING`,
			id, i, r.Slug, string(r.Visibility), r.Weight, string(r.Outcome), time.Duration(r.Duration).Milliseconds(), failure); err != nil {
			return false, fmt.Errorf("store scenario %s: %w", r.Slug, err)
		}
	}
	return true, nil
}

// UpsertPullRequest links a pull request to its assignment.
func (s *Store) UpsertPullRequest(ctx context.Context, assignment int64, number int, headRef, headSHA string, open bool) error {
	_, err := s.Pool.Exec(ctx, `INSERT INTO pull_requests (assignment_id, number, head_ref, head_sha, open) VALUES ($1,$2,$3,$4,$5)
		ON CONFLICT (assignment_id, number) DO UPDATE SET head_ref=$3, head_sha=$4, open=$5, updated_at=now()`,
		assignment, number, headRef, headSHA, open)
	return err
}

// OpenPullRequests lists the open pull requests whose head is branch.
func (s *Store) OpenPullRequests(ctx context.Context, assignment int64, branch string) ([]int, error) {
	rows, err := s.Pool.Query(ctx, `SELECT number FROM pull_requests WHERE assignment_id=$1 AND head_ref=$2 AND open ORDER BY number`, assignment, branch)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int])
}

// RunVerdict returns the stored verdict of a completed run.
func (s *Store) RunVerdict(ctx context.Context, id int64) (grading.Verdict, error) {
	var v grading.Verdict
	var body []byte
	err := s.Pool.QueryRow(ctx, `SELECT verdict FROM runs WHERE id=$1 AND verdict IS NOT NULL`, id).Scan(&body)
	if errors.Is(err, pgx.ErrNoRows) {
		return v, ErrNotFound
	}
	if err != nil {
		return v, err
	}
	return v, json.Unmarshal(body, &v)
}

// TemplateState is what was last published to a template repository.
type TemplateState struct {
	Commit, Tree string
	Files        map[string]string // path → git blob sha
}

// TemplateState returns the last publication of owner/name, or ErrNotFound.
func (s *Store) TemplateState(ctx context.Context, owner, name string) (TemplateState, error) {
	var t TemplateState
	err := s.Pool.QueryRow(ctx, `SELECT commit_sha, tree_sha, files FROM template_repos WHERE owner=$1 AND name=$2`, owner, name).
		Scan(&t.Commit, &t.Tree, &t.Files)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, ErrNotFound
	}
	return t, err
}

// SaveTemplateState records a publication.
func (s *Store) SaveTemplateState(ctx context.Context, owner, name string, t TemplateState) error {
	_, err := s.Pool.Exec(ctx, `INSERT INTO template_repos (owner, name, commit_sha, tree_sha, files) VALUES ($1,$2,$3,$4,$5)
		ON CONFLICT (owner, name) DO UPDATE SET commit_sha=$3, tree_sha=$4, files=$5, published_at=now()`, owner, name, t.Commit, t.Tree, t.Files)
	return err
}
