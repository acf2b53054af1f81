package flashsale

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/holdfast-ci/holdfast/scenarios"
)

// opKind says what an operation of a sale's history did.
type opKind int

const (
	opBuy  opKind = iota // POST /api/orders with a fresh order_id
	opRead               // GET /api/items/{sku}
)

// op is one request of a sale as the harness saw it: sent at Call, answered at Return
// (both measured from the start of the sale on the harness's monotonic clock, so the real
// request lies inside the interval).
type op struct {
	Kind    opKind
	Replica int
	OrderID string
	Qty     int64
	Call    time.Duration
	Return  time.Duration
	// Confirmed is a buy's answer: 201 (true) or 409 sold_out (false).
	Confirmed bool
	// Stock is a read's answer.
	Stock int64
}

func (o op) String() string {
	at := fmt.Sprintf("[%d–%d ms, replica %d]", o.Call.Milliseconds(), o.Return.Milliseconds(), o.Replica)
	if o.Kind == opRead {
		return fmt.Sprintf("GET stock → %d %s", o.Stock, at)
	}
	answer := "409 sold_out"
	if o.Confirmed {
		answer = "201 confirmed"
	}
	return fmt.Sprintf("order %s for %d → %s %s", o.OrderID, o.Qty, answer, at)
}

// stockModel is the sequential specification of one item: a counter that starts at initial.
// A buy of q is confirmed iff at least q units remain, and then takes them; a read returns
// what remains.
func stockModel(initial int64) porcupine.Model {
	return porcupine.Model{
		Init: func() any { return initial },
		Step: func(state, input, output any) (bool, any) {
			left := state.(int64)
			o := input.(op)
			switch o.Kind {
			case opRead:
				return output.(op).Stock == left, left
			default:
				if output.(op).Confirmed {
					return left >= o.Qty, left - o.Qty
				}
				return left < o.Qty, left
			}
		},
		DescribeOperation: func(input, output any) string { return output.(op).String() },
		DescribeState:     func(state any) string { return fmt.Sprint(state.(int64)) },
	}
}

// checkTimeout bounds porcupine. A history it cannot decide in time is not held against the
// app: the explicit checks before it have already passed.
const checkTimeout = 5 * time.Second

// checkSale judges a finished sale of an item that started with stock units: every answer
// must be explainable by one counter taking orders one at a time (linearizability). The
// explicit checks come first because they name the mistake; porcupine catches the rest.
// The history must end with reads sent after every order was answered.
func checkSale(stock int64, ops []op) error {
	var confirmed int64
	var confirmedOps, soldOut int
	lastReturn := time.Duration(0)
	for _, o := range ops {
		if o.Kind == opBuy {
			lastReturn = max(lastReturn, o.Return)
			if o.Confirmed {
				confirmed += o.Qty
				confirmedOps++
			} else {
				soldOut++
			}
		}
	}
	if confirmed > stock {
		return scenarios.Failf(fmt.Sprintf("at most %d units confirmed: the item's whole stock", stock),
			"Take the units in one conditional statement (UPDATE items SET stock = stock - $qty WHERE sku = $sku AND stock >= $qty RETURNING stock) or lock the row first (SELECT … FOR UPDATE) in the same transaction. A read followed by a separate write lets two buyers take the same unit.",
			"%d units confirmed in %d orders (oversold by %d), %d orders sold out", confirmed, confirmedOps, confirmed-stock, soldOut)
	}
	if err := checkFinalReads(stock, confirmed, ops, lastReturn); err != nil {
		return err
	}
	if err := checkReads(stock, ops); err != nil {
		return err
	}
	if err := checkFalseSoldOut(ops); err != nil {
		return err
	}
	history := make([]porcupine.Operation, len(ops))
	for i, o := range ops {
		history[i] = porcupine.Operation{ClientId: i, Input: o, Output: o, Call: int64(o.Call), Return: int64(o.Return)}
	}
	if porcupine.CheckOperationsTimeout(stockModel(stock), history, checkTimeout) == porcupine.Illegal {
		return scenarios.Failf("every answer to be explained by one stock counter that takes orders one at a time, whichever replica answers",
			hintNotLinearizable,
			"no order of these %d requests explains their answers: %s", len(ops), describeOps(ops, 8))
	}
	return nil
}

// checkFinalReads holds the reads sent after the last order was answered to conservation:
// confirmed units plus the stock left equal the stock the sale started with.
func checkFinalReads(stock, confirmed int64, ops []op, lastBuy time.Duration) error {
	want := stock - confirmed
	var finals []op
	for _, o := range ops {
		if o.Kind == opRead && o.Call > lastBuy {
			finals = append(finals, o)
		}
	}
	for _, f := range finals {
		if f.Stock == want {
			continue
		}
		var seen []string
		for _, g := range finals {
			seen = append(seen, fmt.Sprintf("replica %d: %d", g.Replica, g.Stock))
		}
		hint := "Units must leave the stock only with a confirmed order: take them in the order's own transaction and roll it back when the order fails."
		if f.Stock > want {
			hint = hintLostUpdate
		}
		if len(seen) > 1 && finals[0].Stock != finals[len(finals)-1].Stock {
			hint = hintDisagree
		}
		return scenarios.Failf(fmt.Sprintf("after the sale, stock %d − %d units confirmed = %d left on every replica", stock, confirmed, want),
			hint, "GET /api/items/{sku} after the last order was answered: %s", strings.Join(seen, ", "))
	}
	return nil
}

// checkFalseSoldOut finds a sold_out answer that a later answer proves wrong: stock only ever
// goes down during a sale, so units seen after the sold_out were there during it.
func checkFalseSoldOut(ops []op) error {
	for _, x := range ops {
		if x.Kind != opBuy || x.Confirmed {
			continue
		}
		for _, w := range ops {
			if w.Call <= x.Return {
				continue
			}
			var proof string
			switch {
			case w.Kind == opBuy && w.Confirmed && w.Qty >= x.Qty:
				proof = fmt.Sprintf("a later order was confirmed: %s", w)
			case w.Kind == opRead && w.Stock >= x.Qty:
				proof = fmt.Sprintf("a later read still found %d: %s", w.Stock, w)
			default:
				continue
			}
			return scenarios.Failf("409 sold_out only when fewer units remain than the order asks for",
				"A buyer that loses a race is not sold out. If you check a version (optimistic locking), retry the order when the check fails; or take units with one conditional UPDATE … WHERE stock >= $qty, which Postgres re-checks after waiting for the row lock.",
				"%s, but %s", x, proof)
		}
	}
	return nil
}

// checkReads finds a read that no moment of the sale can explain: more left than the orders
// confirmed before it allow (stale), or fewer than the orders sent before it could take.
func checkReads(stock int64, ops []op) error {
	for _, r := range ops {
		if r.Kind != opRead {
			continue
		}
		var done, possible int64
		for _, b := range ops {
			if b.Kind != opBuy || !b.Confirmed {
				continue
			}
			if b.Return < r.Call {
				done += b.Qty
			}
			if b.Call < r.Return {
				possible += b.Qty
			}
		}
		if r.Stock > stock-done {
			return scenarios.Failf(fmt.Sprintf("a read to see every order confirmed before it was sent (at most %d left)", stock-done),
				hintStale,
				"%s after %d units had been confirmed", r, done)
		}
		if r.Stock < stock-possible {
			return scenarios.Failf(fmt.Sprintf("a read to show no fewer than %d left: only %d units were confirmed by orders sent before it returned", stock-possible, possible),
				"Units must leave the stock only with a confirmed order: take them in the order's own transaction and roll it back when the order fails.",
				"%s", r)
		}
	}
	return nil
}

// describeOps renders the first n operations in the order they were sent.
func describeOps(ops []op, n int) string {
	sorted := append([]op(nil), ops...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Call < sorted[j].Call })
	var parts []string
	for i, o := range sorted {
		if i == n {
			parts = append(parts, fmt.Sprintf("and %d more", len(sorted)-n))
			break
		}
		parts = append(parts, o.String())
	}
	return strings.Join(parts, "; ")
}
