package flashsale

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/holdfast-ci/holdfast/scenarios"
)

func basic(ctx context.Context, h *scenarios.Harness) error {
	sku := newID("basic")
	if err := putItem(ctx, h, sku, 3, 1); err != nil {
		return err
	}
	if err := expectStock(ctx, h, sku, 3, "right after PUT {\"stock\": 3}"); err != nil {
		return err
	}
	steps := []struct {
		replica int
		qty     int64
		want    answer
		left    int64
	}{
		{1, 2, confirmed, 1},
		{2, 2, soldOut, 1}, // one unit left: no partial fill
		{2, 1, confirmed, 0},
		{1, 1, soldOut, 0},
	}
	var placed []order
	var refused []string
	for _, st := range steps {
		id := newID("basic")
		want := order{OrderID: id, SKU: sku, Quantity: st.qty, Status: "confirmed"}
		what := fmt.Sprintf("a new order for %d with %d in stock (replica %d)", st.qty, st.left+st.qty*boolInt(st.want == confirmed), st.replica)
		r := postOrder(ctx, h, id, sku, st.qty, st.replica)
		got, err := classify(r, want, what)
		if err != nil {
			return err
		}
		if got != st.want {
			expected := `201 Created with the order for ` + what
			hint := "Confirm an order when at least its quantity is left, and take the units then."
			if st.want == soldOut {
				expected = `409 {"error":"sold_out"} for ` + what
				hint = "Refuse an order that asks for more than is left, without taking anything: there are no partial orders."
			}
			return scenarios.Failf(expected, hint, "%s", r.Describe())
		}
		if got == confirmed {
			placed = append(placed, want)
		} else {
			refused = append(refused, id)
		}
		if err := expectStock(ctx, h, sku, st.left, fmt.Sprintf("after %s", what)); err != nil {
			return err
		}
	}
	for i, o := range placed {
		if err := expectOrder(ctx, h, o, 2-i%2); err != nil {
			return err
		}
	}
	for _, id := range refused {
		r := h.Do(ctx, scenarios.Request{Path: "/api/orders/" + pathSeg(id)})
		if r.Status != http.StatusNotFound {
			return scenarios.Failf("404 for GET /api/orders/{order_id} of an order that was answered sold_out",
				"A sold-out order leaves nothing behind: only confirmed orders are stored.", "%s", r.Describe())
		}
	}
	return notFoundAndInvalid(ctx, h)
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func pathSeg(id string) string { return strings.TrimPrefix(itemPath(id), "/api/items/") }

// expectOrder reads an order back from one replica.
func expectOrder(ctx context.Context, h *scenarios.Harness, want order, replica int) error {
	r := h.Do(ctx, scenarios.Request{Path: "/api/orders/" + pathSeg(want.OrderID), Replica: replica})
	what := fmt.Sprintf("GET /api/orders/%s on replica %d", want.OrderID, replica)
	if r.Status != http.StatusOK {
		return scenarios.Failf("200 with the confirmed order for "+what, "Store confirmed orders in Postgres and look them up by order_id.", "%s", r.Describe())
	}
	var got order
	if err := scenarios.Decode(r, &got, "an order for "+what); err != nil {
		return err
	}
	if got != want {
		return scenarios.Failf(fmt.Sprintf("%s for %s", want, what), "Return the order as it was confirmed.", "%s", r.Describe())
	}
	return nil
}

// notFoundAndInvalid checks unknown ids get 404 and invalid requests 400, taking nothing.
func notFoundAndInvalid(ctx context.Context, h *scenarios.Harness) error {
	if r := h.Do(ctx, scenarios.Request{Path: "/api/orders/" + newID("unknown")}); r.Status != http.StatusNotFound {
		return scenarios.Failf("404 for GET /api/orders/{order_id} of an order_id never used", "Answer 404 when no order has that id.", "%s", r.Describe())
	}
	if r := h.Do(ctx, scenarios.Request{Path: itemPath(newID("unknown"))}); r.Status != http.StatusNotFound {
		return scenarios.Failf("404 for GET /api/items/{sku} of an item never put on sale", "Answer 404 when no item has that sku.", "%s", r.Describe())
	}
	if r := postOrder(ctx, h, newID("unknown"), newID("nosku"), 1, 0); r.Status != http.StatusNotFound {
		return scenarios.Failf("404 for an order of a sku that was never put on sale", "Answer 404 when the order's sku names no item.", "%s", r.Describe())
	}
	sku := newID("valid")
	if err := putItem(ctx, h, sku, 5, 0); err != nil {
		return err
	}
	id := newID("bad")
	orders := []struct {
		what string
		body string
	}{
		{"no order_id", fmt.Sprintf(`{"sku":%q,"quantity":1}`, sku)},
		{"an empty order_id", fmt.Sprintf(`{"order_id":"","sku":%q,"quantity":1}`, sku)},
		{"an order_id of 129 characters", fmt.Sprintf(`{"order_id":%q,"sku":%q,"quantity":1}`, strings.Repeat("o", 129), sku)},
		{"quantity 0", fmt.Sprintf(`{"order_id":%q,"sku":%q,"quantity":0}`, id, sku)},
		{"quantity 101", fmt.Sprintf(`{"order_id":%q,"sku":%q,"quantity":101}`, id, sku)},
		{"a fractional quantity", fmt.Sprintf(`{"order_id":%q,"sku":%q,"quantity":1.5}`, id, sku)},
		{"the quantity as a string", fmt.Sprintf(`{"order_id":%q,"sku":%q,"quantity":"1"}`, id, sku)},
		{"no sku", fmt.Sprintf(`{"order_id":%q,"quantity":1}`, id)},
		{"a body that is not JSON", `{"order_id":`},
	}
	for _, c := range orders {
		r := h.Do(ctx, scenarios.Request{Method: http.MethodPost, Path: "/api/orders", Body: []byte(c.body)})
		if r.Status != http.StatusBadRequest {
			return scenarios.Failf("400 Bad Request for an order with "+c.what,
				"Validate the body before touching the stock: order_id 1–128 characters, sku a string, quantity an integer from 1 to 100.", "%s", r.Describe())
		}
	}
	items := []struct {
		what string
		sku  string
		body string
	}{
		{"stock -1", sku, `{"stock":-1}`},
		{"stock 1000001", sku, `{"stock":1000001}`},
		{"the stock as a string", sku, `{"stock":"5"}`},
		{"no stock", sku, `{}`},
		{"a sku of 65 characters", strings.Repeat("s", 65), `{"stock":5}`},
		{"a sku with a dot", "bad.sku", `{"stock":5}`},
	}
	for _, c := range items {
		r := h.Do(ctx, scenarios.Request{Method: http.MethodPut, Path: itemPath(c.sku), Body: []byte(c.body)})
		if r.Status != http.StatusBadRequest {
			return scenarios.Failf("400 Bad Request for PUT /api/items/{sku} with "+c.what,
				"Validate the sku (1 to 64 letters, digits, - or _) and the body (stock an integer from 0 to 1000000) before storing anything.", "%s", r.Describe())
		}
	}
	return expectStock(ctx, h, sku, 5, "after refused requests (400) for it")
}

// Rounds of each burst scenario: each round is a fresh item, so a race that hides once is
// unlikely to hide every time.
const (
	oversellRounds = 3
	oversellStock  = 5
	plentyRounds   = 2
	plentyStock    = 40
	historyRounds  = 2
	historyStock   = 10
	historyClients = 6
	historySteps   = 8
	retryCopies    = 8
	retryRounds    = 3
	lastUnitCopies = 8
)

func noOversell(ctx context.Context, h *scenarios.Harness) error {
	for round := 1; round <= oversellRounds; round++ {
		_, err := burstSale(ctx, h, "oversell", oversellStock, func(string) [][]step {
			return buyers(h, "oversell", func(int) int64 { return 1 })
		})
		if err != nil {
			return inRound(err, round, oversellRounds, fmt.Sprintf("%d buyers of 1 unit, stock %d", Buyers, oversellStock))
		}
	}
	return nil
}

func noFalseSoldOut(ctx context.Context, h *scenarios.Harness) error {
	qty := func(i int) int64 { return int64(1 + boolInt(i%3 == 0)) } // 8 buyers of 2, 16 of 1: 32 units
	for round := 1; round <= plentyRounds; round++ {
		ops, err := burstSale(ctx, h, "plenty", plentyStock, func(string) [][]step { return buyers(h, "plenty", qty) })
		if err == nil {
			err = everyOrderConfirmed(ops)
		}
		if err != nil {
			return inRound(err, round, plentyRounds, fmt.Sprintf("%d buyers asking for 32 units, stock %d", Buyers, plentyStock))
		}
	}
	return nil
}

// everyOrderConfirmed is for a sale with stock for every buyer.
func everyOrderConfirmed(ops []op) error {
	for _, o := range ops {
		if o.Kind == opBuy && !o.Confirmed {
			return scenarios.Failf("every order confirmed: the stock covers them all",
				"A buyer that loses a race is not sold out: retry, or take units with one conditional UPDATE.", "%s", o)
		}
	}
	return nil
}

func linearizable(ctx context.Context, h *scenarios.Harness) error {
	for round := 1; round <= historyRounds; round++ {
		_, err := burstSale(ctx, h, "linear", historyStock, func(string) [][]step {
			clients := make([][]step, historyClients)
			for c := range clients {
				replica := c%h.Replicas() + 1
				for j := range historySteps {
					if (c+j)%2 == 0 {
						clients[c] = append(clients[c], step{kind: opBuy, replica: replica, orderID: newID("linear"), qty: 1})
					} else {
						clients[c] = append(clients[c], step{kind: opRead, replica: replica})
					}
				}
			}
			return clients
		})
		if err != nil {
			return inRound(err, round, historyRounds, fmt.Sprintf("%d clients each alternating orders and reads, stock %d", historyClients, historyStock))
		}
	}
	return nil
}

// inRound adds which round of a repeated scenario failed to a learner's failure.
func inRound(err error, round, rounds int, what string) error {
	if f, ok := scenarios.AsFailure(err); ok {
		f.Actual = fmt.Sprintf("round %d of %d (%s): %s", round, rounds, what, f.Actual)
	}
	return err
}

func retryIdempotent(ctx context.Context, h *scenarios.Harness) error {
	sku, other := newID("retry"), newID("retry-other")
	for _, s := range []string{sku, other} {
		if err := putItem(ctx, h, s, 10, 1); err != nil {
			return err
		}
	}
	o := order{OrderID: newID("retry"), SKU: sku, Quantity: 2, Status: "confirmed"}
	first := postOrder(ctx, h, o.OrderID, sku, 2, 1)
	if a, err := classify(first, o, "a new order for 2 of 10"); err != nil {
		return err
	} else if a != confirmed {
		return scenarios.Failf("201 Created for a new order for 2 of 10", "Confirm an order when enough units are left.", "%s", first.Describe())
	}
	for i, replica := range []int{2, 1} {
		again := postOrder(ctx, h, o.OrderID, sku, 2, replica)
		if _, err := classify(again, o, fmt.Sprintf("retry %d of that order on replica %d", i+1, replica)); err != nil {
			return err
		}
		if again.Status != http.StatusOK && again.Status != http.StatusCreated {
			return scenarios.Failf(fmt.Sprintf("200 with the same order for retry %d of that order on replica %d", i+1, replica),
				"Look the order_id up before checking the stock: a retry gets the stored order back.", "%s", again.Describe())
		}
	}
	if err := expectStock(ctx, h, sku, 8, "after one order for 2, sent three times"); err != nil {
		return asRetryFailure(err)
	}
	for _, c := range []struct {
		what     string
		sku      string
		quantity int64
	}{
		{"a different quantity (3 instead of 2)", sku, 3},
		{"a different sku", other, 2},
	} {
		r := postOrder(ctx, h, o.OrderID, c.sku, c.quantity, 0)
		if r.Status != http.StatusUnprocessableEntity {
			return scenarios.Failf("422 for an order_id reused with "+c.what,
				"Compare a retry with the stored order: the same order_id with another sku or quantity is a client mistake, not a new order.", "%s", r.Describe())
		}
	}
	if err := expectStock(ctx, h, sku, 8, "after the refused reuses (422) of an order_id"); err != nil {
		return err
	}
	if err := expectStock(ctx, h, other, 10, "after an order_id of another item was reused for it (422)"); err != nil {
		return err
	}
	if err := expectOrder(ctx, h, o, 2); err != nil {
		return err
	}
	return concurrentCopies(ctx, h, "retry", 20, retryRounds, retryCopies,
		"Claim the order_id and take the units in one transaction: e.g. INSERT the order with ON CONFLICT (order_id) DO NOTHING, and take the units only when the insert went through. Checking for the order first and then inserting lets every copy through the check.")
}

func asRetryFailure(err error) error {
	if f, ok := scenarios.AsFailure(err); ok {
		f.Hint = "A retry of an order_id must not take units again: look the order up first, or claim the order_id and take the units in one transaction."
	}
	return err
}

// concurrentCopies sends copies of one order at once, rounds times, to an item with stock
// units: every copy must get the order back, and each round takes exactly one unit.
func concurrentCopies(ctx context.Context, h *scenarios.Harness, prefix string, stock int64, rounds, copies int, hint string) error {
	sku := newID(prefix)
	if err := putItem(ctx, h, sku, stock, 1); err != nil {
		return err
	}
	for round := 1; round <= rounds; round++ {
		o := order{OrderID: newID(prefix), SKU: sku, Quantity: 1, Status: "confirmed"}
		left := stock - int64(round)
		what := fmt.Sprintf("one of %d copies of order %s sent at once (%d in stock before it)", copies, o.OrderID, left+1)
		if err := expectStock(ctx, h, sku, left+1, "before the copies of an order are sent"); err != nil {
			return err
		}
		var rs []scenarios.Response
		err := h.WithLinkLatency(ctx, "postgres", DBLatency, func() error {
			rs = h.Concurrent(ctx, copies, func(int) scenarios.Request {
				return scenarios.Request{Method: http.MethodPost, Path: "/api/orders", Timeout: RequestTimeout,
					Body: scenarios.JSON(map[string]any{"order_id": o.OrderID, "sku": sku, "quantity": 1})}
			})
			return nil
		})
		if err != nil {
			return err
		}
		var statuses []string
		for _, r := range rs {
			statuses = append(statuses, statusWord(r))
		}
		for _, r := range rs {
			a, err := classify(r, o, what)
			if err == nil && a == soldOut {
				err = scenarios.Failf("every copy of the order to get it back (201 or 200): the stock covered it",
					"A copy that finds its order_id taken returns that order; it is never sold out because its own first copy took the unit.",
					"%s (all answers: %s)", r.Describe(), strings.Join(statuses, ", "))
			}
			if err != nil {
				return err
			}
		}
		expected := fmt.Sprintf("stock %d on every replica after %d copies of one order for 1 unit were sent at once (%d before)", left, copies, left+1)
		seen, err := readEverywhere(ctx, h, sku)
		if err != nil {
			return err
		}
		if !agree(seen) {
			return explainStale(ctx, h, sku, scenarios.Failf(expected, hintDisagree, "%s", describeReads(seen)))
		}
		for _, got := range seen {
			switch {
			case got < left:
				return scenarios.Failf(expected, hint, "%s: %d units taken for one order", describeReads(seen), left+1-got)
			case got > left:
				return scenarios.Failf(expected, "Take the units in the same transaction that stores the confirmed order.",
					"%s: no unit taken for a confirmed order", describeReads(seen))
			}
		}
	}
	return nil
}

// readEverywhere reads the stock on every replica, in replica order.
func readEverywhere(ctx context.Context, h *scenarios.Harness, sku string) ([]int64, error) {
	var seen []int64
	for replica := 1; replica <= h.Replicas(); replica++ {
		got, err := readStock(ctx, h, sku, replica)
		if err != nil {
			return nil, err
		}
		seen = append(seen, got)
	}
	return seen, nil
}

// agree reports whether every replica read the same stock (true for no reads).
func agree(seen []int64) bool {
	for _, n := range seen {
		if n != seen[0] {
			return false
		}
	}
	return true
}

func describeReads(seen []int64) string {
	var parts []string
	for i, n := range seen {
		parts = append(parts, fmt.Sprintf("replica %d answered %d", i+1, n))
	}
	return strings.Join(parts, ", ")
}

func statusWord(r scenarios.Response) string {
	if r.Err != nil {
		return "no answer"
	}
	return fmt.Sprint(r.Status)
}

func lastUnitRetry(ctx context.Context, h *scenarios.Harness) error {
	const hint = "Look the order_id up before checking the stock: a retry of a confirmed order gets it back even when nothing is left. For example, INSERT the order first (ON CONFLICT (order_id) DO NOTHING) and take the units only when the insert went through."
	sku := newID("last")
	if err := putItem(ctx, h, sku, 1, 1); err != nil {
		return err
	}
	o := order{OrderID: newID("last"), SKU: sku, Quantity: 1, Status: "confirmed"}
	first := postOrder(ctx, h, o.OrderID, sku, 1, 1)
	if a, err := classify(first, o, "a new order for the only unit"); err != nil {
		return err
	} else if a != confirmed {
		return scenarios.Failf("201 Created for a new order for the only unit", "Confirm an order when enough units are left.", "%s", first.Describe())
	}
	for i, replica := range []int{2, 1} {
		what := fmt.Sprintf("retry %d, on replica %d, of the order that took the last unit", i+1, replica)
		again := postOrder(ctx, h, o.OrderID, sku, 1, replica)
		a, err := classify(again, o, what)
		if err == nil && a == soldOut {
			err = scenarios.Failf("200 with the same order for "+what, hint, "%s", again.Describe())
		}
		if err != nil {
			return err
		}
	}
	if err := expectStock(ctx, h, sku, 0, "after the only unit was sold"); err != nil {
		return err
	}
	if err := concurrentCopies(ctx, h, "last-burst", 1, 1, lastUnitCopies, hint); err != nil {
		return err
	}
	late := newID("last")
	r := postOrder(ctx, h, late, sku, 1, 2)
	if _, err := classify(r, order{OrderID: late, SKU: sku, Quantity: 1, Status: "confirmed"}, "a new order after the last unit was sold"); err != nil {
		return err
	}
	if r.Status != http.StatusConflict {
		return scenarios.Failf(`409 {"error":"sold_out"} for a new order after the last unit was sold`, "Check the stock for every new order_id.", "%s", r.Describe())
	}
	return nil
}

func restockKeepsOrders(ctx context.Context, h *scenarios.Harness) error {
	sku := newID("restock")
	if err := putItem(ctx, h, sku, 4, 1); err != nil {
		return err
	}
	o := order{OrderID: newID("restock"), SKU: sku, Quantity: 3, Status: "confirmed"}
	first := postOrder(ctx, h, o.OrderID, sku, 3, 1)
	if a, err := classify(first, o, "a new order for 3 of 4"); err != nil {
		return err
	} else if a != confirmed {
		return scenarios.Failf("201 Created for a new order for 3 of 4", "Confirm an order when enough units are left.", "%s", first.Describe())
	}
	if err := expectOrder(ctx, h, o, 2); err != nil {
		return err
	}
	if err := putItem(ctx, h, sku, 5, 2); err != nil {
		return err
	}
	seen, err := readEverywhere(ctx, h, sku)
	if err != nil {
		return err
	}
	if !agree(seen) {
		return explainStale(ctx, h, sku, scenarios.Failf(`stock 5 on every replica after PUT {"stock": 5} restocked an item (4 put on sale, 3 sold)`,
			hintDisagree, "%s", describeReads(seen)))
	}
	for _, got := range seen {
		if got == 5 {
			continue
		}
		// 4 units, 3 sold, then PUT 5: each wrong answer names its own mistake.
		hint := "Set the stock to the value the PUT sends, exactly."
		switch got {
		case 1:
			hint = "The PUT of an existing item left its stock as it was (1): set it to the value sent, e.g. INSERT … ON CONFLICT (sku) DO UPDATE SET stock = excluded.stock, not ON CONFLICT DO NOTHING."
		case 2:
			hint = "The stock is the value sent minus the 3 units sold before the restock: those left the stock when they were sold; set the stock to the value sent, exactly."
		case 6:
			hint = "The value sent was added to what was left: a PUT sets the stock to the value sent, it does not add to it."
		}
		return scenarios.Failf(`stock 5 on every replica after PUT {"stock": 5} restocked an item (4 put on sale, 3 sold)`, hint, "%s", describeReads(seen))
	}
	if err := expectOrder(ctx, h, o, 1); err != nil {
		if f, ok := scenarios.AsFailure(err); ok {
			f.Hint = "The order read back before the restock and not after it: a restock changes the stock only, and the orders already confirmed stay with their order_ids."
		}
		return err
	}
	again := postOrder(ctx, h, o.OrderID, sku, 3, 1)
	if _, err := classify(again, o, "a retry, after the restock, of an order confirmed before it"); err != nil {
		return err
	}
	if again.Status != http.StatusOK && again.Status != http.StatusCreated {
		return scenarios.Failf("200 with the same order for a retry, after the restock, of an order confirmed before it",
			"A restock keeps the orders already confirmed: their retries still get the stored order.", "%s", again.Describe())
	}
	if err := expectStock(ctx, h, sku, 5, "after a retry of an order confirmed before the restock"); err != nil {
		return asRetryFailure(err)
	}
	all := order{OrderID: newID("restock"), SKU: sku, Quantity: 5, Status: "confirmed"}
	r := postOrder(ctx, h, all.OrderID, sku, 5, 2)
	if a, err := classify(r, all, "a new order for all 5 units after the restock"); err != nil {
		return err
	} else if a != confirmed {
		return scenarios.Failf("201 Created for a new order for all 5 units after the restock",
			"Check new orders against the stock as the latest PUT set it.", "%s", r.Describe())
	}
	return expectStock(ctx, h, sku, 0, "after an order took every unit of the restock")
}

func soldOutOrderCanRetry(ctx context.Context, h *scenarios.Harness) error {
	sku := newID("again")
	if err := putItem(ctx, h, sku, 1, 1); err != nil {
		return err
	}
	id := newID("again")
	r := postOrder(ctx, h, id, sku, 2, 1)
	if a, err := classify(r, order{OrderID: id, SKU: sku, Quantity: 2, Status: "confirmed"}, "a new order for 2 with 1 in stock"); err != nil {
		return err
	} else if a != soldOut {
		return scenarios.Failf(`409 {"error":"sold_out"} for a new order for 2 with 1 in stock`,
			"Refuse an order that asks for more than is left, without taking anything: there are no partial orders.", "%s", r.Describe())
	}
	if r := h.Do(ctx, scenarios.Request{Path: "/api/orders/" + pathSeg(id), Replica: 2}); r.Status != http.StatusNotFound {
		return scenarios.Failf("404 for GET /api/orders/{order_id} of an order that was answered sold_out",
			"A sold-out order leaves nothing behind: only confirmed orders are stored.", "%s", r.Describe())
	}
	// The buyer lowers the quantity and tries the same order_id again: a new order.
	o := order{OrderID: id, SKU: sku, Quantity: 1, Status: "confirmed"}
	what := "the same order_id for 1 unit, after it was answered sold_out for 2 (1 in stock)"
	again := postOrder(ctx, h, id, sku, 1, 2)
	a, err := classify(again, o, what)
	if err != nil || a != confirmed {
		hint := "A sold-out attempt stores nothing, so its order_id is free: the next request with it is a new order, checked against the stock like any other."
		switch again.Status {
		case http.StatusUnprocessableEntity:
			hint = "It was refused as a reuse of an order_id with another quantity, though GET found no order with it. " + hint
		case http.StatusConflict:
			hint = "1 unit was left, so an order for 1 is not sold out. If you keep answers by order_id, keep only confirmed orders. " + hint
		}
		return scenarios.Failf("201 Created for "+what, hint, "%s", again.Describe())
	}
	if err := expectOrder(ctx, h, o, 1); err != nil {
		return err
	}
	return expectStock(ctx, h, sku, 0, "after the order_id refused as sold_out was confirmed for the last unit")
}
