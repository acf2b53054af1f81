// Package store keeps the App's state in Postgres: installations, challenges, assignments,
// webhook deliveries, submissions, runs with their verdicts and scenario results, pull requests
// and their sticky comments. River's queue lives in the same database, so that a submission and
// its grading job are written in one transaction.
package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/holdfast-ci/holdfast/migrations"
)

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = errors.New("not found")

// Store is the App's database.
type Store struct {
	Pool *pgxpool.Pool
}

// Conns sizes a process's pool: one connection for each River worker (a job holds one only
// for its short queries: no GitHub call is ever made while one is held), River's own (its
// producer, LISTEN, leader election and maintenance: riverOwn) and handlers for concurrent HTTP
// requests that write (webhook deliveries).
func Conns(workers, handlers int) int { return workers + riverOwn + handlers }

// riverOwn is how many connections River's client may hold besides its workers'.
const riverOwn = 6

// Open connects to url with a pool of at most conns connections (pgxpool's default, the number
// of CPUs but at least 4, starved the webhook handler while the workers held theirs), unless url
// sets pool_max_conns itself, and checks the connection.
func Open(ctx context.Context, url string, conns int) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	if conns > 0 && !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = int32(conns)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to the database: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to the database at %s:%d: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
	}
	return &Store{Pool: pool}, nil
}

// Close closes the pool.
func (s *Store) Close() { s.Pool.Close() }

// Migrate applies River's migrations and then every file of migrations/ not applied yet. It is
// safe to run from several processes at once: an advisory lock serialises them.
func (s *Store) Migrate(ctx context.Context, log *slog.Logger) error {
	conn, err := s.Pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(7263189)"); err != nil {
		return fmt.Errorf("take the migration lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(7263189)")

	migrator, err := rivermigrate.New(riverpgxv5.New(s.Pool), nil)
	if err != nil {
		return fmt.Errorf("river migrator: %w", err)
	}
	res, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}
	for _, v := range res.Versions {
		log.Info("applied river migration", "version", v.Version)
	}

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS holdfast_migrations (
		name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("create migrations table: %w", err)
	}
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		body, err := fs.ReadFile(migrations.FS, name)
		if err != nil {
			return err
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, "INSERT INTO holdfast_migrations (name) VALUES ($1) ON CONFLICT DO NOTHING", name)
			if err != nil || tag.RowsAffected() == 0 {
				return err // applied before
			}
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return fmt.Errorf("apply %s: %w", name, err)
			}
			log.Info("applied migration", "name", name)
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
