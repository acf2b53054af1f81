package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/holdfast-ci/holdfast/grading/app/github"
	"github.com/holdfast-ci/holdfast/grading/metrics"
)

// GitHub does not redeliver a webhook on its own: a push whose delivery the App could not take
// (its database down, the process restarting, an answer slower than GitHub's 10 s) is lost
// unless someone asks. RecoverDeliveriesArgs is that someone: it reads the App's deliveries
// (GET /app/hook/deliveries) and asks GitHub to deliver again (POST …/attempts) every one that
// never got a success answer and that Holdfast never stored — within the days GitHub keeps them.

// DeliveryRetention is how far back GitHub lists an App's webhook deliveries.
const DeliveryRetention = 3 * 24 * time.Hour

// DefaultRecoverDeliveries is how often deliveries are checked when Options.RecoverDeliveries is 0.
const DefaultRecoverDeliveries = 2 * time.Minute

// redeliverAgainAfter is how long a redelivery that did not arrive waits before it is asked for
// once more (store.MaxRedeliveries in all).
const redeliverAgainAfter = 5 * time.Minute

// scanOverlap re-reads the end of the previous scan: a delivery attempted while the last scan
// ran may be listed only now.
const scanOverlap = 10 * time.Minute

// RecoverDeliveriesArgs asks for missed webhook deliveries to be redelivered.
type RecoverDeliveriesArgs struct{}

// Kind implements river.JobArgs.
func (RecoverDeliveriesArgs) Kind() string { return "recover_deliveries" }

// InsertOpts implements river.JobArgsWithInsertOpts: one pending at most.
func (RecoverDeliveriesArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueGitHub, MaxAttempts: 1, UniqueOpts: river.UniqueOpts{ByState: pendingStates}}
}

// RecoverDeliveriesWorker redelivers missed webhook deliveries.
type RecoverDeliveriesWorker struct {
	river.WorkerDefaults[RecoverDeliveriesArgs]
	Deps
}

// Work implements river.Worker.
func (w *RecoverDeliveriesWorker) Work(ctx context.Context, _ *river.Job[RecoverDeliveriesArgs]) error {
	now := time.Now()
	since := now.Add(-DeliveryRetention)
	if last, ok, err := w.Store.DeliveryScanStart(ctx); err != nil {
		return err
	} else if ok && last.Add(-scanOverlap).After(since) {
		since = last.Add(-scanOverlap)
	}
	// Only what was delivered since the last scan (with an overlap) is read: GitHub's rate limit
	// is shared with grading, and older failures were judged by earlier scans.
	all, err := w.GitHub.Deliveries(ctx, since)
	if err != nil {
		return err
	}
	byGUID := map[string][]github.Delivery{}
	var order []string
	for _, d := range all {
		if byGUID[d.GUID] == nil {
			order = append(order, d.GUID)
		}
		byGUID[d.GUID] = append(byGUID[d.GUID], d)
	}
	known, err := w.Store.KnownDeliveries(ctx, order)
	if err != nil {
		return err
	}
	asked := 0
	for _, guid := range order {
		attempts := byGUID[guid]
		first, latest, ok := attempts[len(attempts)-1], attempts[0], false // newest first
		for _, d := range attempts {
			ok = ok || d.OK() || (d.StatusCode >= 400 && d.StatusCode < 500) // a 4xx is the delivery's own fault: asking again cannot help
		}
		if ok || known[guid] {
			continue
		}
		should, err := w.Store.RequestRedelivery(ctx, guid, first.Event, first.DeliveredAt, redeliverAgainAfter)
		if err != nil {
			return err
		}
		if !should {
			continue
		}
		if err := w.GitHub.Redeliver(ctx, latest.ID); err != nil {
			return fmt.Errorf("recover delivery %s (%s): %w", guid, first.Event, err)
		}
		asked++
		metrics.Redelivered()
		w.Log.Warn("asked GitHub to redeliver a webhook the App never took", "guid", guid, "event", first.Event,
			"first_attempt", first.DeliveredAt, "status_code", latest.StatusCode)
	}
	if asked > 0 {
		w.Log.Info("recovering missed deliveries", "redelivered", asked, "listed", len(all))
	}
	return w.Store.SetDeliveryScan(ctx, now)
}
