package idempotentpayments

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/agent"
)

func basic(ctx context.Context, h *scenarios.Harness) error {
	before, err := snapshot(ctx, h)
	if err != nil {
		return err
	}
	r := pay(ctx, h, newKey("basic"), order(1250, "eur"), 0)
	p, err := expectCreated(r, 1250, "eur", "a new payment of 1250 eur")
	if err != nil {
		return err
	}
	if err := expectCharges(ctx, h, before, 1, "one new payment", p); err != nil {
		return err
	}
	if err := getPayment(ctx, h, p, "right after it was created"); err != nil {
		return err
	}
	r2 := pay(ctx, h, newKey("basic"), order(1250, "eur"), 0)
	p2, err := expectCreated(r2, 1250, "eur", "a second payment of 1250 eur, with another key")
	if err != nil {
		return err
	}
	if p2.ID == p.ID {
		return scenarios.Failf("a new payment id for a payment with another key", "The two payments had different keys and the same amount and currency: give every new payment an id of its own (random bytes, or a sequence).",
			"both payments got id %s", p.ID)
	}
	if err := expectCharges(ctx, h, before, 2, "two payments with different keys", p, p2); err != nil {
		return err
	}
	unknown := h.Do(ctx, scenarios.Request{Path: "/api/payments/" + newKey("unknown")})
	if unknown.Status != http.StatusNotFound {
		return scenarios.Failf("404 for GET of a payment id that does not exist", "Answer 404 when no payment has that id.", "%s", unknown.Describe())
	}
	return nil
}

func missingKey(ctx context.Context, h *scenarios.Harness) error {
	before, err := snapshot(ctx, h)
	if err != nil {
		return err
	}
	// keyed is the header of a request with key as its Idempotency-Key, "" included.
	keyed := func(key string) map[string]string { return map[string]string{"Idempotency-Key": key} }
	cases := []struct {
		what   string
		header map[string]string
		body   any
	}{
		{"no Idempotency-Key header", nil, order(500, "usd")},
		{"an empty Idempotency-Key header", keyed(""), order(500, "usd")},
		{"an Idempotency-Key of 256 characters", keyed(strings.Repeat("k", 256)), order(500, "usd")},
		{"no amount", keyed(newKey("noamount")), map[string]any{"currency": "usd"}},
		{"amount 0", keyed(newKey("zero")), order(0, "usd")},
		{"a negative amount", keyed(newKey("neg")), order(-5, "usd")},
		{"an amount with a fraction", keyed(newKey("frac")), map[string]any{"amount": 12.5, "currency": "usd"}},
		{"the amount as a string", keyed(newKey("str")), map[string]any{"amount": "500", "currency": "usd"}},
		{"the amount as a boolean (true)", keyed(newKey("bool")), map[string]any{"amount": true, "currency": "usd"}},
		{"currency \"USD\" (upper case)", keyed(newKey("upper")), order(500, "USD")},
		{"currency \"us\" (two letters)", keyed(newKey("short")), order(500, "us")},
		{"no currency", keyed(newKey("nocur")), map[string]any{"amount": 500}},
	}
	for _, c := range cases {
		r := h.Do(ctx, scenarios.Request{Method: http.MethodPost, Path: "/api/payments", Body: scenarios.JSON(c.body), Header: c.header})
		if r.Status != http.StatusBadRequest {
			return scenarios.Failf("400 Bad Request for a payment with "+c.what,
				"Validate the key (1–255 characters) and the body (integer amount > 0, three lower-case letters) before doing anything else.",
				"%s", r.Describe())
		}
	}
	// Malformed JSON is sent raw: JSON() would refuse to produce it.
	r := h.Do(ctx, scenarios.Request{Method: http.MethodPost, Path: "/api/payments", Body: []byte(`{"amount": 500,`), Header: keyed(newKey("malformed"))})
	if r.Status != http.StatusBadRequest {
		return scenarios.Failf("400 Bad Request for a body that is not valid JSON", "Reject a body that does not parse before doing anything else.", "%s", r.Describe())
	}
	return expectCharges(ctx, h, before, 0, "rejected requests")
}

func duplicateSubmission(ctx context.Context, h *scenarios.Harness) error {
	before, err := snapshot(ctx, h)
	if err != nil {
		return err
	}
	key := newKey("dup")
	first := pay(ctx, h, key, order(4200, "usd"), 0)
	p, err := expectCreated(first, 4200, "usd", "the first request with a new key")
	if err != nil {
		return err
	}
	for i := 2; i <= 3; i++ {
		again := pay(ctx, h, key, order(4200, "usd"), 0)
		if err := expectReplay(again, first, fmt.Sprintf("request %d with the same key and body to replay the original answer: %s", i, first.Describe()),
			"Store the status and body of a finished request under its key, and return them for every replay."); err != nil {
			return err
		}
	}
	return expectCharges(ctx, h, before, 1, "one payment submitted three times", p)
}

func keyReuse(ctx context.Context, h *scenarios.Harness) error {
	before, err := snapshot(ctx, h)
	if err != nil {
		return err
	}
	key := newKey("reuse")
	first := pay(ctx, h, key, order(1000, "usd"), 0)
	p, err := expectCreated(first, 1000, "usd", "the first request with a new key")
	if err != nil {
		return err
	}
	for _, other := range []map[string]any{order(2000, "usd"), order(1000, "gbp")} {
		r := pay(ctx, h, key, other, 0)
		if r.Status != http.StatusUnprocessableEntity {
			return scenarios.Failf(fmt.Sprintf("422 for the same key with a different body (%v %v instead of 1000 usd)", other["amount"], other["currency"]),
				"Store a fingerprint of the request body with the key and refuse a mismatch.", "%s", r.Describe())
		}
	}
	again := pay(ctx, h, key, order(1000, "usd"), 0)
	if err := expectReplay(again, first, "the original request, sent again after the refused ones, to replay "+first.Describe(),
		"A refused mismatch must not change what is stored under the key."); err != nil {
		return err
	}
	return expectCharges(ctx, h, before, 1, "one payment and two refused reuses of its key", p)
}

// concurrentRounds and concurrentCopies make a race likely to show: each round sends the copies
// at once while the provider takes a while to answer.
const (
	concurrentRounds = 3
	concurrentCopies = 8
	providerLatency  = 400 // ms
)

func concurrentDuplicates(ctx context.Context, h *scenarios.Harness) error {
	if err := h.Agent.Provider(ctx, agent.ProviderBehaviour{LatencyMS: providerLatency}); err != nil {
		return err
	}
	for round := 1; round <= concurrentRounds; round++ {
		before, err := snapshot(ctx, h)
		if err != nil {
			return err
		}
		key := newKey("race")
		rs := h.Concurrent(ctx, concurrentCopies, func(int) scenarios.Request {
			return scenarios.Request{Method: http.MethodPost, Path: "/api/payments", Body: scenarios.JSON(order(777, "usd")),
				Header: map[string]string{"Idempotency-Key": key}}
		})
		var created []payment
		var statuses []string
		for _, r := range rs {
			statuses = append(statuses, statusWord(r))
			switch {
			case r.Status == http.StatusCreated:
				p, err := expectCreated(r, 777, "usd", "a concurrent duplicate")
				if err != nil {
					return err
				}
				created = append(created, p)
			case r.Status == http.StatusConflict:
			default:
				return scenarios.Failf(fmt.Sprintf("each of %d simultaneous requests with one key to get 201 or 409", concurrentCopies),
					"Claim the key atomically (e.g. INSERT … ON CONFLICT DO NOTHING) and answer 409 to the requests that lose the claim.",
					"%s (all answers: %s)", r.Describe(), strings.Join(statuses, ", "))
			}
		}
		if len(created) == 0 {
			return scenarios.Failf("one of the simultaneous requests to succeed with 201", "The request that wins the claim must finish the payment.",
				"answers: %s", strings.Join(statuses, ", "))
		}
		for _, p := range created[1:] {
			if p.ID != created[0].ID {
				return scenarios.Failf("every 201 for one key to carry the same payment id",
					"Claim the key before calling the provider, so only one request creates a payment.",
					"ids %s and %s for key %s", created[0].ID, p.ID, key)
			}
		}
		if err := expectCharges(ctx, h, before, 1, fmt.Sprintf("%d simultaneous requests with one key (round %d of %d)", concurrentCopies, round, concurrentRounds), created[0]); err != nil {
			return err
		}
	}
	return nil
}

func statusWord(r scenarios.Response) string {
	if r.Err != nil {
		return "no answer"
	}
	return fmt.Sprint(r.Status)
}

func partialFailure(ctx context.Context, h *scenarios.Harness) error {
	// A: the provider refuses outright; nothing was charged.
	before, err := snapshot(ctx, h)
	if err != nil {
		return err
	}
	if err := h.Agent.Provider(ctx, agent.ProviderBehaviour{Mode: agent.ModeFail, Count: 1}); err != nil {
		return err
	}
	key := newKey("fail")
	r := pay(ctx, h, key, order(3100, "usd"), 0)
	if r.Status != http.StatusBadGateway {
		return scenarios.Failf("502 Bad Gateway when the provider answers 500", "Map a provider error to 502 and do not record the payment as succeeded.", "%s", r.Describe())
	}
	retry := pay(ctx, h, key, order(3100, "usd"), 0)
	p, err := expectCreated(retry, 3100, "usd", "the retry after the provider recovered")
	if err != nil {
		if f, ok := scenarios.AsFailure(err); ok && retry.Status != http.StatusCreated {
			f.Hint = "After a 502 the key must be free to retry: do not store the failed attempt as a final answer."
		}
		return err
	}
	if err := expectCharges(ctx, h, before, 1, "a payment whose first attempt the provider refused", p); err != nil {
		return err
	}

	// B: the provider charges, then the answer is lost.
	before, err = snapshot(ctx, h)
	if err != nil {
		return err
	}
	if err := h.Agent.Provider(ctx, agent.ProviderBehaviour{Mode: agent.ModeChargeThenFail, Count: 1}); err != nil {
		return err
	}
	key = newKey("lost")
	r = pay(ctx, h, key, order(3200, "usd"), 0)
	if r.Status != http.StatusBadGateway {
		return scenarios.Failf("502 Bad Gateway when the provider answers 500", "Map a provider error to 502 and do not record the payment as succeeded.", "%s", r.Describe())
	}
	retry = pay(ctx, h, key, order(3200, "usd"), 0)
	p, err = expectCreated(retry, 3200, "usd", "the retry after the provider recovered")
	if err != nil {
		return err
	}
	return expectCharges(ctx, h, before, 1, "a payment whose first attempt was charged but answered 500", p)
}

func providerUnreachable(ctx context.Context, h *scenarios.Harness) error {
	before, err := snapshot(ctx, h)
	if err != nil {
		return err
	}
	// The agent refuses every connection to the provider: nothing can be charged, and nothing
	// times out.
	if err := h.Agent.Fault(ctx, "provider", agent.Fault{Kind: agent.FaultDown}); err != nil {
		return err
	}
	key := newKey("unreachable")
	r := pay(ctx, h, key, order(3300, "usd"), ProviderDeadline+Slack+3*time.Second)
	if r.Status != http.StatusBadGateway {
		hint := hintFor(r)
		if r.Status == http.StatusGatewayTimeout {
			hint = "The connection to the provider was refused at once; nothing timed out. Answer 504 only when the 2 s deadline passed, and 502 for every other failure to reach the provider."
		}
		return scenarios.Failf("502 Bad Gateway when the connection to the provider is refused", hint,
			"%s", r.DescribeTook())
	}
	if err := h.Agent.Fault(ctx, "provider", agent.Fault{Kind: agent.FaultUp}); err != nil {
		return err
	}
	retry := pay(ctx, h, key, order(3300, "usd"), 0)
	p, err := expectCreated(retry, 3300, "usd", "the retry once the provider could be reached again")
	if err != nil {
		if f, ok := scenarios.AsFailure(err); ok && retry.Status != http.StatusCreated {
			f.Hint = "After a 502 the key must be free to retry: do not store the failed attempt as a final answer."
		}
		return err
	}
	return expectCharges(ctx, h, before, 1, "a payment whose first attempt could not reach the provider", p)
}

func timeoutHandling(ctx context.Context, h *scenarios.Harness) error {
	before, err := snapshot(ctx, h)
	if err != nil {
		return err
	}
	hang := ProviderDeadline + time.Second
	if err := h.Agent.Provider(ctx, agent.ProviderBehaviour{Mode: agent.ModeChargeThenHang, Count: 1, HangMS: hang.Milliseconds()}); err != nil {
		return err
	}
	key := newKey("hang")
	start := time.Now()
	r := pay(ctx, h, key, order(5100, "usd"), ProviderDeadline+Slack+3*time.Second)
	if r.Err != nil || r.Duration > ProviderDeadline+Slack {
		return scenarios.Failf(fmt.Sprintf("an answer within %s while the provider hangs", ProviderDeadline+Slack),
			"Give the whole provider call, headers and body, a 2 s deadline (Go: context.WithTimeout; Node: a timer that destroys the request; Python: timeout=2 on the call) and answer 504 when it passes.",
			"%s", r.DescribeTook())
	}
	if r.Status != http.StatusGatewayTimeout {
		return scenarios.Failf("504 Gateway Timeout when the provider does not answer within 2 s", "Answer 504 when the provider's deadline passes.", "%s", r.Describe())
	}
	// Let the provider finish holding the first attempt, as a real one would, before retrying.
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Until(start.Add(hang + 200*time.Millisecond))):
	}
	retry := pay(ctx, h, key, order(5100, "usd"), 0)
	p, err := expectCreated(retry, 5100, "usd", "the retry after a provider timeout")
	if err != nil {
		return err
	}
	return expectCharges(ctx, h, before, 1, "a payment whose first attempt was charged but timed out", p)
}

func databaseRecovery(ctx context.Context, h *scenarios.Harness) error {
	key0 := newKey("pre")
	first := pay(ctx, h, key0, order(900, "usd"), 0)
	p0, err := expectCreated(first, 900, "usd", "a payment before the database outage")
	if err != nil {
		return err
	}
	if err := h.Agent.Fault(ctx, "postgres", agent.Fault{Kind: agent.FaultDown}); err != nil {
		return err
	}
	// During the outage errors are expected; anything answered 201 must survive it.
	var duringOutage []payment
	outageEnd := time.Now().Add(3 * time.Second)
	for time.Now().Before(outageEnd) {
		r := pay(ctx, h, newKey("outage"), order(901, "usd"), 3*time.Second)
		if r.Status == http.StatusCreated {
			if p, err := expectCreated(r, 901, "usd", "a payment during the outage"); err == nil {
				duringOutage = append(duringOutage, p)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	if err := h.Agent.Fault(ctx, "postgres", agent.Fault{Kind: agent.FaultUp}); err != nil {
		return err
	}
	var last scenarios.Response
	var recovered payment
	ok := h.WaitFor(ctx, 15*time.Second, 500*time.Millisecond, func(ctx context.Context) bool {
		last = pay(ctx, h, newKey("after"), order(902, "usd"), 3*time.Second)
		if last.Status != http.StatusCreated {
			return false
		}
		recovered, err = expectCreated(last, 902, "usd", "a payment after the outage")
		return err == nil
	})
	if !ok {
		return scenarios.Failf("new payments to succeed within 15 s after the database came back",
			"Take connections from a pool that replaces broken ones (Go: pgxpool; Node: pg's Pool; Python: a psycopg2 pool, handing a broken connection back with putconn(conn, close=True)), or open a new connection when a query fails on a broken one, instead of keeping one connection opened at start-up.",
			"still %s", last.Describe())
	}
	if err := getPayment(ctx, h, recovered, "after the outage"); err != nil {
		return err
	}
	for _, p := range append([]payment{p0}, duringOutage...) {
		if err := getPayment(ctx, h, p, "after the outage (it was created before or during it)"); err != nil {
			return err
		}
	}
	again := pay(ctx, h, key0, order(900, "usd"), 0)
	return expectReplay(again, first, "the replay of a payment made before the outage to return its original answer: "+first.Describe(),
		"Replays come from what was stored, not from a new attempt.")
}

func restartPersistence(ctx context.Context, h *scenarios.Harness) error {
	before, err := snapshot(ctx, h)
	if err != nil {
		return err
	}
	key := newKey("restart")
	first := pay(ctx, h, key, order(6600, "usd"), 0)
	p, err := expectCreated(first, 6600, "usd", "a payment before the restart")
	if err != nil {
		return err
	}
	if err := h.Target.Kill(ctx, scenarios.App, "SIGKILL"); err != nil {
		return fmt.Errorf("kill app: %w", err)
	}
	if err := h.Target.Start(ctx, scenarios.App); err != nil {
		return err // Start reports a crash as a learner failure itself
	}
	again := pay(ctx, h, key, order(6600, "usd"), 0)
	hint := "Keep idempotency records, with the answer, in the database: a replay after a restart is answered from there."
	var replayed payment
	if again.Status == http.StatusCreated && json.Unmarshal(again.Body, &replayed) == nil && replayed.ID != "" && replayed.ID != p.ID {
		hint = fmt.Sprintf("After the restart the key made a new payment (%s instead of %s): the record of the key did not survive the restart. Keep idempotency records in the database, not in process memory.", replayed.ID, p.ID)
	}
	if err := expectReplay(again, first, "a replay after the restart to return the original answer: "+first.Describe(), hint); err != nil {
		return err
	}
	if err := getPayment(ctx, h, p, "after the restart"); err != nil {
		return err
	}
	return expectCharges(ctx, h, before, 1, "one payment replayed across a restart", p)
}
