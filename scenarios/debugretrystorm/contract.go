package debugretrystorm

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

// The contract's edges a fix can break while it changes the code around them: the currency's
// default and its validation, the price's validation, and how a price write to the catalog fails.

// expectError checks a status with a JSON {"error": …} body.
func expectError(r scenarios.Response, status int, what, hint string) error {
	expected := fmt.Sprintf(`%d {"error": …} for %s`, status, what)
	if r.Err != nil || r.Status != status {
		return scenarios.Failf(expected, hint, "%s", r.Describe())
	}
	var body struct {
		Error *string `json:"error"`
	}
	if json.Unmarshal(r.Body, &body) != nil || body.Error == nil {
		return scenarios.Failf(expected, `Errors are JSON: {"error": "<message>"}.`, "%s", r.Describe())
	}
	return nil
}

// catalogCalls returns the downstream's calls for exactly one product since seq.
func catalogCalls(ctx context.Context, h *scenarios.Harness, since int, id string) ([]agent.Call, error) {
	calls, err := h.Agent.Calls(ctx, since)
	if err != nil {
		return nil, fmt.Errorf("read the downstream's calls: %w", err)
	}
	var out []agent.Call
	for _, c := range calls {
		if c.Path == "/catalog/products/"+id {
			out = append(out, c)
		}
	}
	return out, nil
}

func describeCalls(cs []agent.Call) string {
	var parts []string
	for _, c := range cs {
		p := c.Method + " " + c.Path
		if c.Query != "" {
			p += "?" + c.Query
		}
		if c.Body != "" {
			p += " " + strings.TrimSpace(c.Body)
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		return "no catalog call"
	}
	return strings.Join(parts, "; ")
}

func badRequests(ctx context.Context, h *scenarios.Harness) error {
	// No currency: EUR, read from the catalog in EUR.
	since, err := h.Agent.LastCall(ctx)
	if err != nil {
		return err
	}
	id := newID("default")
	r := h.Do(ctx, scenarios.Request{Path: "/api/products/" + id, Timeout: 5 * time.Second})
	if r.Err != nil || r.Status != http.StatusOK {
		return scenarios.Failf("200 in EUR for GET /api/products/"+id+" without ?currency=",
			"A read without a currency is a read in EUR: apply the default before you validate the currency.", "%s", r.Describe())
	}
	if _, err := expectProduct(r, id, "EUR", "a read of "+id+" without ?currency="); err != nil {
		return err
	}
	calls, err := catalogCalls(ctx, h, since, id)
	if err != nil {
		return err
	}
	if len(calls) != 1 || currencyOf(calls[0]) != "EUR" {
		return scenarios.Failf("one catalog read of "+id+", with ?currency=EUR, for a read without a currency",
			"A read without a currency is a read in EUR, from the catalog and in the cache alike.", "%s", describeCalls(calls))
	}

	// A currency the service does not serve: 400, and the catalog is not asked.
	since, err = h.Agent.LastCall(ctx)
	if err != nil {
		return err
	}
	id = newID("jpy")
	if err := expectError(h.Do(ctx, read(id, "JPY")), http.StatusBadRequest, "GET /api/products/"+id+"?currency=JPY",
		"Serve EUR, USD and GBP only: another currency is 400, before the cache or the catalog is asked."); err != nil {
		return err
	}
	if calls, err = catalogCalls(ctx, h, since, id); err != nil {
		return err
	}
	if len(calls) > 0 {
		return scenarios.Failf("no catalog call for a read in JPY, a currency the service does not serve",
			"Check the currency first: another currency is 400, before the cache or the catalog is asked.", "%s", describeCalls(calls))
	}

	// Prices that are not positive integers: 400, and nothing written.
	id = newID("price")
	for _, body := range []string{`{"price": 0}`, `{"price": -1299}`, `{"price": "1299"}`, `{"price": 12.99}`, `{}`, `price=1299`} {
		since, err = h.Agent.LastCall(ctx)
		if err != nil {
			return err
		}
		r := h.Do(ctx, scenarios.Request{Method: http.MethodPut, Path: "/api/products/" + id, Body: []byte(body), Timeout: 5 * time.Second})
		if err := expectError(r, http.StatusBadRequest, "PUT /api/products/"+id+" with "+body,
			"A price is a positive integer of cents: answer 400 to anything else (0, negative, a string, a fraction, missing)."); err != nil {
			return err
		}
		if calls, err = catalogCalls(ctx, h, since, id); err != nil {
			return err
		}
		if len(calls) > 0 {
			return scenarios.Failf("nothing written to the catalog for PUT /api/products/"+id+" with "+body,
				"Validate the price before writing it: a price that is not a positive integer is 400, and the catalog never sees it.", "%s", describeCalls(calls))
		}
	}
	return nil
}

// writeFailures: the catalog answers a price write with 503, then does not answer one at all.
// Each time the write is sent once, and the PUT answered 502 — within 2 s and a margin when the
// catalog is silent.
func writeFailures(ctx context.Context, h *scenarios.Harness) error {
	id := newID("write")
	path := "/catalog/products/" + id
	for _, phase := range []struct {
		behaviour agent.DownstreamBehaviour
		while     string
		hint      string
	}{
		{agent.DownstreamBehaviour{PathPrefix: path, Status: http.StatusServiceUnavailable}, "the catalog answers it 503",
			"Check the catalog's status: a write it answered with an error did not happen. Answer 502, and keep the cached price."},
		{agent.DownstreamBehaviour{PathPrefix: path, Hang: true}, "the catalog never answers it",
			"Give the write a deadline of 2 s (a context timeout, or the HTTP client's): past it, answer 502."},
	} {
		if err := h.Agent.Downstream(ctx, phase.behaviour); err != nil {
			return err
		}
		since, err := h.Agent.LastCall(ctx)
		if err != nil {
			return err
		}
		r := h.Do(ctx, scenarios.Request{Method: http.MethodPut, Path: "/api/products/" + id,
			Body: scenarios.JSON(map[string]int{"price": 4200}), Timeout: writeAnswer})
		calls, err := catalogCalls(ctx, h, since, id)
		if err != nil {
			return err
		}
		what := fmt.Sprintf("a price write to %s while %s", id, phase.while)
		var writes []agent.Call
		for _, c := range calls {
			if c.Method == http.MethodPost {
				writes = append(writes, c)
			}
		}
		if len(writes) != 1 {
			hint := "Write a price once: a write is not retried (the catalog may have applied the first one), the PUT answers 502 and the caller decides."
			if len(writes) == 0 {
				hint = "Write the price with POST $DOWNSTREAM_URL/catalog/products/{id}."
			}
			return scenarios.Failf(fmt.Sprintf("exactly one POST %s for %s", path, what), hint, "%s; the PUT: %s", describeCalls(calls), describeTimed(r))
		}
		var sent struct {
			Price *int64 `json:"price"`
		}
		if json.Unmarshal([]byte(writes[0].Body), &sent) != nil || sent.Price == nil || *sent.Price != 4200 {
			return scenarios.Failf(`the write to carry the PUT's body, {"price": 4200}`, "Send the catalog the same body the PUT received.", "%s", describeCalls(writes))
		}
		if r.Err != nil && r.TimedOut() {
			return scenarios.Failf(fmt.Sprintf(`502 {"error": …} within %s for %s`, writeAnswer, what), phase.hint, "%s", describeTimed(r))
		}
		if err := expectError(r, http.StatusBadGateway, what, phase.hint); err != nil {
			return err
		}
	}
	return nil
}
