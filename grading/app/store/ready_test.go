package store_test

import (
	"context"
	"io/fs"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/holdfast-ci/holdfast/grading/app/store"
	"github.com/holdfast-ci/holdfast/grading/app/store/storetest"
	"github.com/holdfast-ci/holdfast/migrations"
)

func TestMigrationsPending(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, dbURL := storetest.New(t)
	pending, err := st.MigrationsPending(ctx)
	if err != nil || len(pending) != 0 {
		t.Fatalf("migrated database: pending %v, err %v; want none", pending, err)
	}

	files, _ := fs.Glob(migrations.FS, "*.sql")
	last := files[len(files)-1]
	if _, err := st.Pool.Exec(ctx, "DELETE FROM holdfast_migrations WHERE name = $1", last); err != nil {
		t.Fatal(err)
	}
	pending, err = st.MigrationsPending(ctx)
	if err != nil || !slices.Equal(pending, []string{last}) {
		t.Fatalf("one migration unrecorded: pending %v, err %v; want [%s]", pending, err, last)
	}
	if _, err := st.Pool.Exec(ctx, "DELETE FROM river_migration WHERE version = (SELECT max(version) FROM river_migration)"); err != nil {
		t.Fatal(err)
	}
	pending, err = st.MigrationsPending(ctx)
	if err != nil || len(pending) != 2 || !strings.HasPrefix(pending[0], "river ") || pending[1] != last {
		t.Fatalf("River's last migration unrecorded too: pending %v, err %v; want [river N %s]", pending, err, last)
	}

	// An empty schema: nothing applied at all.
	if _, err := st.Pool.Exec(ctx, "CREATE SCHEMA hf_empty"); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(dbURL)
	q := u.Query()
	q.Set("search_path", "hf_empty")
	u.RawQuery = q.Encode()
	empty, err := store.Open(ctx, u.String(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer empty.Close()
	pending, err = empty.MigrationsPending(ctx)
	if err != nil || len(pending) <= len(files) || pending[0] != "river 1" || !slices.Contains(pending, files[0]) {
		t.Fatalf("empty schema: pending %v, err %v; want every River migration and every file", pending, err)
	}
}
