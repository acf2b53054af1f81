package webhookreceiver

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
	"github.com/holdfast-ci/holdfast/scenarios/agent"
)

// Event is one webhook the provider (the grader) sends: a credit to an account (an amount to
// add, exactly once), or an account's new balance at a version that grows with every change of
// that account (the newest wins).
type Event struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Account string `json:"account"`
	Amount  int    `json:"amount,omitempty"`
	Version int    `json:"version,omitempty"`
	Balance int    `json:"balance,omitempty"`
}

// The two types of event the provider sends.
const (
	credited       = "account.credited"
	balanceUpdated = "account.balance_updated"
)

// effect says what applying e is, for a learner: the downstream call that carries it.
func (e Event) effect() string {
	if e.Type == credited {
		return fmt.Sprintf("POST %s%s%s carrying amount %d", accountsPath, e.Account, creditsSuffix, e.Amount)
	}
	return fmt.Sprintf("PUT %s%s carrying version %d and balance %d", accountsPath, e.Account, e.Version, e.Balance)
}

// Sign returns the Webhook-Signature header of a delivery: "v1=" and the hex HMAC-SHA256, keyed
// with secret, of "<id>.<timestamp>.<body>".
func Sign(secret, id, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(id + "." + timestamp + "."))
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

// delivery is one POST /webhooks as sent: its headers may lie about the body (a tampered
// delivery), and any of them may be missing ("").
type delivery struct {
	id, timestamp, signature string
	body                     []byte
	replica                  int // 0: round-robin
}

// newID returns a fresh id with prefix, unique across gradings: the downstream's record and
// the app's database outlive a scenario.
func newID(prefix string) string {
	return prefix + "_" + scenarios.RandomHex(6)
}

// newCredit returns a credit of amount to a fresh account.
func newCredit(amount int) Event {
	return Event{ID: newID("evt"), Type: credited, Account: newID("acc"), Amount: amount}
}

// newBalance returns a balance update of account (a fresh one when "").
func newBalance(account string, version, balance int) Event {
	if account == "" {
		account = newID("acc")
	}
	return Event{ID: newID("evt"), Type: balanceUpdated, Account: account, Version: version, Balance: balance}
}

// signed returns the delivery of e as the provider sends it, sent at the given moment.
func signed(e Event, at time.Time) delivery {
	body := scenarios.JSON(e)
	ts := strconv.FormatInt(at.Unix(), 10)
	return delivery{id: e.ID, timestamp: ts, signature: Sign(Secret, e.ID, ts, body), body: body}
}

// request is d as the harness's request.
func (d delivery) request() scenarios.Request {
	hdr := map[string]string{}
	for k, v := range map[string]string{"Webhook-Id": d.id, "Webhook-Timestamp": d.timestamp, "Webhook-Signature": d.signature} {
		if v != "" {
			hdr[k] = v
		}
	}
	return scenarios.Request{Method: http.MethodPost, Path: route, Header: hdr, Body: d.body, Timeout: answerWait, Replica: d.replica}
}

// deliver sends d and returns the app's answer.
func deliver(ctx context.Context, h *scenarios.Harness, d delivery) scenarios.Response {
	return h.Do(ctx, d.request())
}

func acked(r scenarios.Response) bool { return r.Err == nil && r.Status >= 200 && r.Status < 300 }

// expectAck fails unless r acknowledges the delivery of e (any 2xx).
func expectAck(r scenarios.Response, e Event, what, hint string) error {
	if acked(r) {
		return nil
	}
	if r.Status == http.StatusUnauthorized && hint == "" {
		hint = "This delivery was signed correctly: HMAC-SHA256 keyed with the secret over \"<Webhook-Id>.<Webhook-Timestamp>.<raw body>\", hex, after \"v1=\". Verify over the body's bytes as they arrived, before parsing them, and accept a timestamp within 5 minutes of now."
	}
	if hint == "" {
		hint = "Acknowledge every correctly signed delivery with a 2xx, also one you have seen before: the provider retries anything else."
	}
	return scenarios.Failf(fmt.Sprintf("a 2xx for %s (event %s)", what, e.ID), hint, "%s", r.DescribeTook())
}

// applyCall is a call to the downstream that carried an event's effect: a credit (POST
// /accounts/{account}/credits) or a balance (PUT /accounts/{account}).
type applyCall struct {
	agent.Call
	EventID string
	Type    string // credited or balanceUpdated, from the method and path
	Account string // from the path
	Amount  int
	Version int
	Balance int
}

func (c applyCall) applied() bool { return c.Status >= 200 && c.Status < 300 }

// describe says when a call started and how it was answered, for a learner.
func (c applyCall) describe(base time.Time) string {
	answer := fmt.Sprint(c.Status)
	if c.Status == 0 {
		answer = "no answer (the call was cut off)"
	}
	what := fmt.Sprintf("version %d", c.Version)
	if c.Type == credited {
		what = fmt.Sprintf("amount %d", c.Amount)
	}
	return fmt.Sprintf("%s %s %s at +%s: %s", c.Method, c.Path, what, c.Start.Sub(base).Round(time.Millisecond), answer)
}

// ledger is the downstream's record of the apply calls since a scenario began, by event id.
type ledger struct {
	byEvent map[string][]applyCall
	all     []applyCall
	other   []agent.Call // calls that are neither a well-formed credit nor a balance
}

// readLedger reads the downstream's record after since.
func readLedger(ctx context.Context, h *scenarios.Harness, since int) (ledger, error) {
	calls, err := h.DownstreamCalls(ctx, since)
	if err != nil {
		return ledger{}, err
	}
	l := ledger{byEvent: map[string][]applyCall{}}
	for _, c := range calls {
		account, ok := strings.CutPrefix(c.Path, accountsPath)
		kind := balanceUpdated
		if credit, isCredit := strings.CutSuffix(account, creditsSuffix); isCredit {
			account, kind = credit, credited
			ok = ok && c.Method == http.MethodPost
		} else {
			ok = ok && c.Method == http.MethodPut
		}
		var body struct {
			EventID string `json:"event_id"`
			Amount  int    `json:"amount"`
			Version int    `json:"version"`
			Balance int    `json:"balance"`
		}
		if !ok || account == "" || strings.Contains(account, "/") || json.Unmarshal([]byte(c.Body), &body) != nil || body.EventID == "" {
			l.other = append(l.other, c)
			continue
		}
		a := applyCall{Call: c, EventID: body.EventID, Type: kind, Account: account, Amount: body.Amount, Version: body.Version, Balance: body.Balance}
		l.byEvent[a.EventID] = append(l.byEvent[a.EventID], a)
		l.all = append(l.all, a)
	}
	return l, nil
}

// applied returns the calls for id that were answered 2xx.
func (l ledger) applied(id string) []applyCall {
	return slices.DeleteFunc(slices.Clone(l.byEvent[id]), func(c applyCall) bool { return !c.applied() })
}

// waitApplied polls the downstream until every event in want has been applied or within has
// passed, then waits settle more so that a second application has time to show, and returns the
// record as it then is.
func waitApplied(ctx context.Context, h *scenarios.Harness, since int, want []Event, within time.Duration) (ledger, error) {
	var l ledger
	var readErr error
	h.WaitFor(ctx, within, pollEvery, func(ctx context.Context) bool {
		l, readErr = readLedger(ctx, h, since)
		if readErr != nil {
			return true
		}
		for _, e := range want {
			if len(l.applied(e.ID)) == 0 {
				return false
			}
		}
		return true
	})
	if readErr != nil {
		return ledger{}, readErr
	}
	if err := scenarios.SleepUntil(ctx, time.Now().Add(settle)); err != nil {
		return ledger{}, err
	}
	return readLedger(ctx, h, since)
}

// expectOnce fails unless every event in want was applied exactly once, with its own version and
// balance, to its own account. base is the moment the scenario's times are counted from; after
// says what happened before the wait ("acknowledged while the downstream answered 503"); notApplied
// is the hint for an event never applied.
func expectOnce(l ledger, want []Event, base time.Time, within time.Duration, after, notApplied string) error {
	for _, e := range want {
		got := l.applied(e.ID)
		switch {
		case len(got) == 0:
			var tried []string
			for _, c := range l.byEvent[e.ID] {
				tried = append(tried, c.describe(base))
			}
			seen := "no call carried it"
			if len(tried) > 0 {
				seen = fmt.Sprintf("%d call(s) carried it, none answered 2xx: %s", len(tried), strings.Join(tried, "; "))
			}
			return scenarios.Failf(fmt.Sprintf("event %s, acknowledged %s, applied once: a %s answered 2xx within %s", e.ID, after, e.effect(), within),
				notApplied, "never applied: %s", seen)
		case len(got) > 1:
			var each []string
			for _, c := range got {
				each = append(each, c.describe(base))
			}
			return scenarios.Failf(fmt.Sprintf("event %s applied exactly once", e.ID),
				"Every delivery of one Webhook-Id after the first must be acknowledged and skipped. Record the id in Postgres under a unique constraint when you accept the delivery (INSERT … ON CONFLICT DO NOTHING), in the same transaction as the work you queue: a check in memory does not see the other replica or survive a restart, and a SELECT before the INSERT lets two concurrent deliveries both pass.",
				"event %s applied %d times: the downstream answered 2xx to %d calls carrying it (%s)", e.ID, len(got), len(got), strings.Join(each, "; "))
		}
		c := got[0]
		if c.Type != e.Type || c.Account != e.Account || c.Amount != e.Amount || c.Version != e.Version || c.Balance != e.Balance {
			return scenarios.Failf(fmt.Sprintf("event %s applied as a %s", e.ID, e.effect()),
				"Send the event's own account and values to the downstream: a credit's amount to POST /accounts/{account}/credits, a balance's version and balance to PUT /accounts/{account}.",
				"%s", c.describe(base))
		}
	}
	return nil
}

// expectNotApplied fails if any of the rejected events was applied (a call carrying it answered
// 2xx).
func expectNotApplied(l ledger, rejected map[string]string, base time.Time) error {
	for id, what := range rejected {
		if got := l.applied(id); len(got) > 0 {
			return scenarios.Failf(fmt.Sprintf("nothing applied for %s (event %s)", what, id),
				"Verify the signature and the timestamp before anything else, and do nothing with a delivery that fails either: no row, no call.",
				"applied: %s", got[0].describe(base))
		}
	}
	return nil
}
