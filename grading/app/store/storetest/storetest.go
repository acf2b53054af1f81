// Package storetest gives each test a fresh, migrated database on the Postgres named by
// HOLDFAST_TEST_DATABASE_URL (deploy/services.sh starts one and prints it). Without it, tests
// skip with the reason, unless HOLDFAST_REQUIRE_SERVICES is set (CI), where they fail.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/holdfast-ci/holdfast/grading/app/store"
)

// New creates a database for the test, migrates it, and drops it when the test ends. It returns
// the store and the database's URL.
func New(t testing.TB) (*store.Store, string) {
	t.Helper()
	base := os.Getenv("HOLDFAST_TEST_DATABASE_URL")
	if base == "" {
		if os.Getenv("HOLDFAST_REQUIRE_SERVICES") != "" {
			t.Fatal("HOLDFAST_TEST_DATABASE_URL is not set but HOLDFAST_REQUIRE_SERVICES is: run `eval \"$(bash deploy/services.sh)\"`")
		}
		t.Skip("HOLDFAST_TEST_DATABASE_URL is not set: run `eval \"$(bash deploy/services.sh)\"` to start Postgres")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to %s: %v", base, err)
	}
	defer admin.Close(ctx)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "hf_test_" + hex.EncodeToString(b)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	u, _ := url.Parse(base)
	u.Path = "/" + name
	s, err := store.Open(ctx, u.String(), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, base); err == nil {
			c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(ctx)
		}
	})
	if err := s.Migrate(ctx, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return s, u.String()
}
