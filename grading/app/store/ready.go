package store

import (
	"context"
	"fmt"
	"io/fs"
	"sort"

	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/holdfast-ci/holdfast/migrations"
)

// MigrationsPending lists the migrations this binary knows that the database lacks: River's
// ("river 6") first, then the App's files of migrations/ ("0004_comparisons.sql"). Empty means
// the schema is current. It only reads: readiness probes call it, and applying is Migrate's job.
func (s *Store) MigrationsPending(ctx context.Context) ([]string, error) {
	migrator, err := rivermigrate.New(riverpgxv5.New(s.Pool), nil)
	if err != nil {
		return nil, fmt.Errorf("river migrator: %w", err)
	}
	applied, err := migrator.ExistingVersions(ctx)
	if err != nil {
		return nil, fmt.Errorf("read river's applied migrations: %w", err)
	}
	have := map[int]bool{}
	for _, m := range applied {
		have[m.Version] = true
	}
	var pending []string
	for _, m := range migrator.AllVersions() {
		if !have[m.Version] {
			pending = append(pending, fmt.Sprintf("river %d", m.Version))
		}
	}

	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	done := map[string]bool{}
	var exists bool
	if err := s.Pool.QueryRow(ctx, "SELECT to_regclass('holdfast_migrations') IS NOT NULL").Scan(&exists); err != nil {
		return nil, fmt.Errorf("look for the migrations table: %w", err)
	}
	if exists {
		rows, err := s.Pool.Query(ctx, "SELECT name FROM holdfast_migrations")
		if err != nil {
			return nil, fmt.Errorf("read applied migrations: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				return nil, fmt.Errorf("read applied migrations: %w", err)
			}
			done[name] = true
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read applied migrations: %w", err)
		}
	}
	for _, name := range names {
		if !done[name] {
			pending = append(pending, name)
		}
	}
	return pending, nil
}
