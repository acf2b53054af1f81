package store

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/holdfast-ci/holdfast/grading"
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

// ReportByToken returns the stored verdict of the run whose report token is token. ErrNotFound
// means no such run, or no verdict yet (Exists tells them apart).
func (s *Store) ReportByToken(ctx context.Context, token string) (v grading.Verdict, exists bool, err error) {
	var body []byte
	err = s.Pool.QueryRow(ctx, `SELECT verdict FROM runs WHERE report_token=$1`, token).Scan(&body)
	if errors.Is(err, pgx.ErrNoRows) {
		return v, false, ErrNotFound
	}
	if err != nil {
		return v, false, err
	}
	if body == nil {
		return v, true, ErrNotFound
	}
	return v, true, json.Unmarshal(body, &v)
}
