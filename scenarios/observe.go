package scenarios

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// Postgres opens a connection to the real Postgres sidecar, bypassing the fault proxy, for
// observations such as counting rows or reading pg_stat_statements. The caller closes it.
func (h *Harness) Postgres(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.Connect(ctx, h.PostgresURL)
	if err != nil {
		return nil, fmt.Errorf("connect to the postgres sidecar: %w", err)
	}
	return conn, nil
}

// Redis returns a client of the real Redis sidecar, bypassing the fault proxy. The caller
// closes it.
func (h *Harness) Redis() (*redis.Client, error) {
	opts, err := redis.ParseURL(h.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("redis sidecar url: %w", err)
	}
	return redis.NewClient(opts), nil
}

// AppLogs returns the last lines of the app's output.
func (h *Harness) AppLogs(ctx context.Context, lines int) (string, error) {
	return h.Target.Logs(ctx, App, time.Time{}, lines)
}
