package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
)

// Reviewer is someone who may see every scenario of every submission and manage take-homes.
type Reviewer struct {
	ID    int64
	Login string
}

var reviewerLoginRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// tokenPrefix marks reviewer tokens, so that a leaked one is recognisable (secret scanners).
const tokenPrefix = "hfr_"

// secret returns a fresh random string with n bytes of entropy.
func secret(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand panics rather than return an error)
	return base64.RawURLEncoding.EncodeToString(b)
}

// digest is how tokens and session ids are stored: their SHA-256. They carry 256 bits of
// entropy, so a plain hash is enough (no salt or slow hash needed, unlike passwords).
func digest(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// AddReviewer creates a reviewer, or gives an existing one a new token (ending its sessions),
// and returns the token. It is shown once: only its hash is stored.
func (s *Store) AddReviewer(ctx context.Context, login string) (string, error) {
	if !reviewerLoginRE.MatchString(login) {
		return "", fmt.Errorf("%q is not a reviewer login: use letters, digits, '.', '_' or '-' (at most 64)", login)
	}
	token := tokenPrefix + secret(32)
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		var id int64
		if err := tx.QueryRow(ctx, `INSERT INTO reviewers (login, token_hash) VALUES ($1, $2)
			ON CONFLICT (login) DO UPDATE SET token_hash=$2 RETURNING id`, login, digest(token)).Scan(&id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM reviewer_sessions WHERE reviewer_id=$1`, id)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("add reviewer %s: %w", login, err)
	}
	return token, nil
}

// ReviewerByToken finds the reviewer a token belongs to, or ErrNotFound.
func (s *Store) ReviewerByToken(ctx context.Context, token string) (Reviewer, error) {
	var r Reviewer
	if len(token) < len(tokenPrefix)+32 || len(token) > 200 {
		return r, ErrNotFound
	}
	err := s.Pool.QueryRow(ctx, `SELECT id, login FROM reviewers WHERE token_hash=$1`, digest(token)).Scan(&r.ID, &r.Login)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, ErrNotFound
	}
	return r, err
}

// Session is a signed-in reviewer's browser session.
type Session struct {
	Reviewer Reviewer
	// CSRF is the token every form of the session must send back.
	CSRF    string
	Expires time.Time
}

// CreateSession starts a session for a reviewer and returns its id (the cookie's value).
func (s *Store) CreateSession(ctx context.Context, reviewerID int64, ttl time.Duration) (string, Session, error) {
	id, csrf := secret(32), secret(32)
	var sess Session
	err := s.Pool.QueryRow(ctx, `WITH ins AS (INSERT INTO reviewer_sessions (id_hash, reviewer_id, csrf, expires_at)
		VALUES ($1, $2, $3, now() + $4::interval) RETURNING reviewer_id, csrf, expires_at)
		SELECT r.id, r.login, ins.csrf, ins.expires_at FROM ins JOIN reviewers r ON r.id = ins.reviewer_id`,
		digest(id), reviewerID, csrf, ttl.String()).Scan(&sess.Reviewer.ID, &sess.Reviewer.Login, &sess.CSRF, &sess.Expires)
	if err != nil {
		return "", sess, fmt.Errorf("create session: %w", err)
	}
	// Expired sessions of anyone are removed here, a few at a time, instead of by a sweeper.
	_, _ = s.Pool.Exec(ctx, `DELETE FROM reviewer_sessions WHERE id_hash IN
		(SELECT id_hash FROM reviewer_sessions WHERE expires_at < now() LIMIT 100)`)
	return id, sess, nil
}

// SessionByID returns a live session, or ErrNotFound for an unknown or expired one.
func (s *Store) SessionByID(ctx context.Context, id string) (Session, error) {
	var sess Session
	if id == "" || len(id) > 100 {
		return sess, ErrNotFound
	}
	err := s.Pool.QueryRow(ctx, `SELECT r.id, r.login, x.csrf, x.expires_at FROM reviewer_sessions x
		JOIN reviewers r ON r.id = x.reviewer_id WHERE x.id_hash=$1 AND x.expires_at > now()`, digest(id)).
		Scan(&sess.Reviewer.ID, &sess.Reviewer.Login, &sess.CSRF, &sess.Expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return sess, ErrNotFound
	}
	return sess, err
}

// DeleteSession ends a session (sign-out).
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	_, err := s.Pool.Exec(ctx, `DELETE FROM reviewer_sessions WHERE id_hash=$1`, digest(id))
	return err
}
