package github

import (
	"context"
	"errors"
	"fmt"
	"time"

	gh "github.com/google/go-github/v66/github"
)

// Delivery is one attempt of GitHub's to deliver a webhook to the App. Every attempt of one
// event (the first and each redelivery) shares the GUID, which is the X-GitHub-Delivery header.
type Delivery struct {
	ID          int64
	GUID        string
	Event       string
	Action      string
	StatusCode  int // 0 when GitHub got no HTTP answer (refused, timed out)
	Redelivery  bool
	DeliveredAt time.Time
}

// OK says whether the App answered the attempt with a success status.
func (d Delivery) OK() bool { return d.StatusCode >= 200 && d.StatusCode < 400 }

// deliveriesPage is GitHub's largest page of webhook deliveries.
const deliveriesPage = 100

// Deliveries lists the App's webhook deliveries made at or after since, newest first, following
// GitHub's cursor pagination. GitHub keeps deliveries for a few days only; since bounds the walk.
func (a *App) Deliveries(ctx context.Context, since time.Time) ([]Delivery, error) {
	c := a.appClient()
	opts := &gh.ListCursorOptions{PerPage: deliveriesPage}
	var out []Delivery
	for page := 0; page < 1000; page++ { // 100 000 deliveries: far more than a few days of any installation
		ds, resp, err := c.Apps.ListHookDeliveries(ctx, opts)
		if err != nil {
			return out, fmt.Errorf("list webhook deliveries: %w", err)
		}
		for _, d := range ds {
			at := d.GetDeliveredAt().Time
			if at.Before(since) {
				return out, nil
			}
			out = append(out, Delivery{ID: d.GetID(), GUID: d.GetGUID(), Event: d.GetEvent(), Action: d.GetAction(),
				StatusCode: d.GetStatusCode(), Redelivery: d.GetRedelivery(), DeliveredAt: at})
		}
		if resp.Cursor == "" || len(ds) == 0 {
			return out, nil
		}
		opts.Cursor = resp.Cursor
	}
	return out, fmt.Errorf("list webhook deliveries: more than 1000 pages since %s", since.Format(time.RFC3339))
}

// Redeliver asks GitHub to deliver the webhook delivery id again. GitHub answers at once and
// delivers later, with the same GUID.
func (a *App) Redeliver(ctx context.Context, id int64) error {
	_, _, err := a.appClient().Apps.RedeliverHookDelivery(ctx, id)
	var accepted *gh.AcceptedError // GitHub's 202: queued for delivery, which is the success
	if err != nil && !errors.As(err, &accepted) {
		return fmt.Errorf("redeliver webhook delivery %d: %w", id, err)
	}
	return nil
}
