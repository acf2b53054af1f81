package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// MaxRedeliveries is how often the recovery job asks GitHub for one delivery again before it
// leaves it (and logs it): an event the App fails on every time is not helped by more.
const MaxRedeliveries = 3

// KnownDeliveries returns which of guids Holdfast stored (X-GitHub-Delivery ids it claimed).
func (s *Store) KnownDeliveries(ctx context.Context, guids []string) (map[string]bool, error) {
	rows, err := s.Pool.Query(ctx, `SELECT id FROM deliveries WHERE id = ANY($1)`, guids)
	if err != nil {
		return nil, fmt.Errorf("look up deliveries: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	known := make(map[string]bool, len(ids))
	for _, id := range ids {
		known[id] = true
	}
	return known, err
}

// RequestRedelivery records that delivery guid (event, first attempted by GitHub at
// deliveredAt) is about to be asked for again, unless it was asked for MaxRedeliveries times
// already or less than retryAfter ago. ok says whether to ask.
func (s *Store) RequestRedelivery(ctx context.Context, guid, event string, deliveredAt time.Time, retryAfter time.Duration) (ok bool, err error) {
	var n int
	err = s.Pool.QueryRow(ctx, `INSERT INTO redeliveries (guid, event, delivered_at, requests, requested_at) VALUES ($1, $2, $3, 1, now())
		ON CONFLICT (guid) DO UPDATE SET requests = redeliveries.requests + 1, requested_at = now(),
			delivered_at = LEAST(redeliveries.delivered_at, EXCLUDED.delivered_at)
		WHERE redeliveries.requests < $4 AND redeliveries.requested_at < now() - make_interval(secs => $5)
		RETURNING requests`, guid, event, deliveredAt, MaxRedeliveries, retryAfter.Seconds()).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("record redelivery of %s: %w", guid, err)
	}
	return true, nil
}

// OriginalDeliveryTime is when GitHub first tried to deliver guid, if Holdfast asked for it
// again (a recovered delivery); zero for an ordinary delivery.
func OriginalDeliveryTime(ctx context.Context, tx pgx.Tx, guid string) (time.Time, error) {
	var at time.Time
	err := tx.QueryRow(ctx, `SELECT delivered_at FROM redeliveries WHERE guid=$1`, guid).Scan(&at)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, nil
	}
	return at, err
}

// DeliveryScanStart is where the recovery job's last scan ended, or ok false before the first.
func (s *Store) DeliveryScanStart(ctx context.Context) (time.Time, bool, error) {
	var at time.Time
	err := s.Pool.QueryRow(ctx, `SELECT scanned_to FROM delivery_scans WHERE id=1`).Scan(&at)
	if errors.Is(err, pgx.ErrNoRows) {
		return at, false, nil
	}
	return at, err == nil, err
}

// SetDeliveryScan records how far the recovery job has looked.
func (s *Store) SetDeliveryScan(ctx context.Context, to time.Time) error {
	_, err := s.Pool.Exec(ctx, `INSERT INTO delivery_scans (id, scanned_to) VALUES (1, $1)
		ON CONFLICT (id) DO UPDATE SET scanned_to = GREATEST(delivery_scans.scanned_to, $1)`, to)
	return err
}
