package store

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
)

// ReportToken is run id's report token: its learner report is at /runs/{token}.
func (s *Store) ReportToken(ctx context.Context, id int64) (string, error) {
	var token string
	err := s.Pool.QueryRow(ctx, `SELECT report_token FROM runs WHERE id=$1`, id).Scan(&token)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrNotFound
	}
	return token, err
}

// RunByReportToken is the id of the run whose report token is token, or ErrNotFound. Its
// verdict, once there is one, is RunVerdict's.
func (s *Store) RunByReportToken(ctx context.Context, token string) (int64, error) {
	var id int64
	err := s.Pool.QueryRow(ctx, `SELECT id FROM runs WHERE report_token=$1`, token).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, ErrNotFound
	}
	return id, err
}
