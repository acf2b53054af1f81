package idempotentpayments

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/agent"
)

// Slug names the challenge in the catalog and in templates/.
const Slug = "idempotent-payments"

// ProviderDeadline is the contract's limit on one provider call; Slack is what the harness adds
// for the app's own work before it calls an answer late.
const (
	ProviderDeadline = 2 * time.Second
	Slack            = 1500 * time.Millisecond
)

// Scenarios returns the challenge's scenario table in the order it runs: cheap checks first, the
// ones that disturb the app last.
func Scenarios() []scenarios.Scenario {
	return []scenarios.Scenario{
		{Slug: "basic_request_handling", Title: "A payment is created, charged once and can be read back", Weight: 10, Visibility: scenarios.Public, Run: basic},
		{Slug: "missing_key", Title: "Requests without a valid key or body are rejected before anything is charged", Weight: 5, Visibility: scenarios.Public, Run: missingKey},
		{Slug: "duplicate_submission_handling", Title: "A replayed request returns the original answer without charging again", Weight: 15, Visibility: scenarios.Public, Run: duplicateSubmission},
		{Slug: "key_reuse_different_payload", Title: "A key reused with a different payload is refused with 422", Weight: 10, Visibility: scenarios.Public, Run: keyReuse},
		{Slug: "concurrent_duplicate_requests", Title: "Concurrent duplicates charge exactly once", Weight: 20, Visibility: scenarios.Public, Run: concurrentDuplicates},
		{Slug: "partial_failure_recovery", Title: "A provider failure records nothing as paid, and the retry charges exactly once", Weight: 15, Visibility: scenarios.Hidden, Run: partialFailure},
		{Slug: "provider_unreachable", Title: "An unreachable provider gets a 502, and the retry charges exactly once", Weight: 5, Visibility: scenarios.Hidden, Run: providerUnreachable},
		{Slug: "timeout_handling", Title: "A hanging provider gets a 504 within the deadline, and the retry does not charge twice", Weight: 10, Visibility: scenarios.Public, Run: timeoutHandling},
		{Slug: "database_connection_recovery", Title: "The app recovers by itself after the database drops every connection", Weight: 10, Visibility: scenarios.Hidden, Disruptive: true, Timeout: 45 * time.Second, Run: databaseRecovery},
		{Slug: "restart_persistence", Title: "Replays still return the original result after the app is killed and restarted", Weight: 10, Visibility: scenarios.Public, Disruptive: true, Timeout: 60 * time.Second, Run: restartPersistence},
	}
}

// payment is the contract's payment object.
type payment struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

func newKey(prefix string) string {
	return "hf-" + prefix + "-" + scenarios.RandomHex(6)
}

func pay(ctx context.Context, h *scenarios.Harness, key string, body any, timeout time.Duration) scenarios.Response {
	r := scenarios.Request{Method: http.MethodPost, Path: "/api/payments", Body: scenarios.JSON(body), Timeout: timeout}
	if key != "" {
		r.Header = map[string]string{"Idempotency-Key": key}
	}
	return h.Do(ctx, r)
}

func order(amount int64, currency string) map[string]any {
	return map[string]any{"amount": amount, "currency": currency}
}

// expectCreated checks a 201 with a payment matching what was asked for.
func expectCreated(r scenarios.Response, amount int64, currency, what string) (payment, error) {
	var p payment
	if r.Status != http.StatusCreated {
		return p, scenarios.Failf("201 Created for "+what, hintFor(r), "%s", r.Describe())
	}
	if err := scenarios.Decode(r, &p, "a payment object for "+what); err != nil {
		return p, err
	}
	want := fmt.Sprintf(`{"id":"…","status":"succeeded","amount":%d,"currency":%q}`, amount, currency)
	if p.ID == "" || p.Status != "succeeded" || p.Amount != amount || p.Currency != currency {
		return p, scenarios.Failf(want+" for "+what, "Echo the amount and currency you were sent, with a non-empty id and status \"succeeded\".", "%s", r.Describe())
	}
	return p, nil
}

func hintFor(r scenarios.Response) string {
	switch {
	case r.Err != nil && r.TimedOut():
		return "The request hung. Check for a lock or a downstream call without a deadline."
	case r.Err != nil:
		return "The app dropped the connection. Look at its log for a panic or crash."
	case r.Status >= 500:
		return "The app answered with a server error; its log usually says why."
	}
	return "Compare your status codes with the API contract in the brief."
}

// ledgerSince returns the charges the provider made after the given snapshot.
func ledgerSince(ctx context.Context, h *scenarios.Harness, before agent.LedgerSnapshot) ([]agent.Charge, error) {
	l, err := h.Agent.Ledger(ctx)
	if err != nil {
		return nil, fmt.Errorf("read provider ledger: %w", err)
	}
	return l.Charges[len(before.Charges):], nil
}

// expectCharges checks that exactly n new charges exist and that each named payment has exactly
// one of them with the right amount.
func expectCharges(ctx context.Context, h *scenarios.Harness, before agent.LedgerSnapshot, n int, what string, paid ...payment) error {
	charges, err := ledgerSince(ctx, h, before)
	if err != nil {
		return err
	}
	if len(charges) != n {
		hint := "Claim the client's key before calling the provider, so that one key makes one payment (e.g. INSERT … ON CONFLICT DO NOTHING, and only the request whose insert went through goes on)."
		if twice := chargedTwice(charges); twice != "" {
			hint = fmt.Sprintf("The provider charged payment %q more than once: each retry of it was a new charge. Send the provider an Idempotency-Key that stays the same across retries of one payment (e.g. the payment id).", twice)
		}
		if len(charges) < n {
			hint = "Only record a payment as succeeded, and answer 201, after the provider confirmed the charge; after a 502 or 504 a retry must call the provider again."
		}
		return scenarios.Failf(fmt.Sprintf("exactly %d provider charge(s) for %s", n, what), hint,
			"%d charge(s) at the provider: %s", len(charges), describeCharges(charges))
	}
	for _, p := range paid {
		var mine []agent.Charge
		for _, c := range charges {
			if c.PaymentID == p.ID {
				mine = append(mine, c)
			}
		}
		if len(mine) != 1 || mine[0].Amount != p.Amount || mine[0].Currency != p.Currency {
			hint := "Only answer 201 after the provider confirmed the charge."
			if len(mine) == 0 && len(charges) > 0 {
				hint = "The provider charged, but under another payment_id than the id you answered: send the payment's own id as payment_id."
			}
			return scenarios.Failf(fmt.Sprintf("payment %s (%d %s), reported as succeeded, to have exactly one provider charge of that amount", p.ID, p.Amount, p.Currency),
				hint, "the provider's charges: %s", describeCharges(charges))
		}
	}
	return nil
}

// chargedTwice returns a payment id the provider charged more than once, or "".
func chargedTwice(cs []agent.Charge) string {
	seen := map[string]bool{}
	for _, c := range cs {
		if seen[c.PaymentID] {
			return c.PaymentID
		}
		seen[c.PaymentID] = true
	}
	return ""
}

func describeCharges(cs []agent.Charge) string {
	if len(cs) == 0 {
		return "none"
	}
	var parts []string
	for i, c := range cs {
		if i == 5 {
			parts = append(parts, fmt.Sprintf("and %d more", len(cs)-5))
			break
		}
		parts = append(parts, fmt.Sprintf("%s for payment %q (%d %s)", c.ID, c.PaymentID, c.Amount, c.Currency))
	}
	return strings.Join(parts, "; ")
}

// expectReplay holds a replay to the contract (P6): the original status and the original body,
// byte for byte. A replay with the same JSON value in other bytes gets a hint of its own: the
// usual cause is a stored response re-serialised (a jsonb column), not a missing store.
func expectReplay(again, first scenarios.Response, expected, hint string) error {
	if again.Err == nil && again.Status == first.Status && bytes.Equal(again.Body, first.Body) {
		return nil
	}
	sameBody := bytes.Equal(again.Body, first.Body) || sameJSON(again.Body, first.Body)
	switch {
	case again.Err == nil && again.Status == first.Status && sameBody:
		return scenarios.Failf(expected+", byte for byte",
			"The replay is the same JSON value in other bytes (keys reordered or spacing changed), as when the stored answer is re-serialised: a jsonb column, or a body parsed and encoded again. Store the bytes you sent (text or bytea) and send exactly those.",
			"the replay was %s; the first answer was %s", bodyText(again.Body), bodyText(first.Body))
	case again.Err == nil && sameBody:
		return scenarios.Failf(expected, fmt.Sprintf("The replay carries the original body with status %d instead of %d: store the status with the body, and replay both.", again.Status, first.Status),
			"%s", again.Describe())
	}
	return scenarios.Failf(expected, hint, "%s", again.Describe())
}

// sameJSON reports whether two bodies are equal JSON values, whatever their field order and
// spacing.
func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// bodyText renders a body exactly, spaces included, for a learner to compare two of them.
func bodyText(b []byte) string {
	s := string(b)
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return "`" + s + "`"
}

func snapshot(ctx context.Context, h *scenarios.Harness) (agent.LedgerSnapshot, error) {
	l, err := h.Agent.Ledger(ctx)
	if err != nil {
		return l, fmt.Errorf("read provider ledger: %w", err)
	}
	return l, nil
}

// getPayment reads a payment back and checks it matches.
func getPayment(ctx context.Context, h *scenarios.Harness, p payment, what string) error {
	r := h.Do(ctx, scenarios.Request{Path: "/api/payments/" + p.ID})
	if r.Status != http.StatusOK {
		return scenarios.Failf(fmt.Sprintf("GET /api/payments/%s to answer 200 %s", p.ID, what),
			"Store the payment durably before answering 201, and look it up by its id.", "%s", r.Describe())
	}
	var got payment
	if err := scenarios.Decode(r, &got, "the payment from GET /api/payments/{id}"); err != nil {
		return err
	}
	if got != p {
		return scenarios.Failf(fmt.Sprintf("GET /api/payments/%s to return the payment as created: %+v", p.ID, p),
			"Return the same object as the 201 answer.", "%s", r.Describe())
	}
	return nil
}
