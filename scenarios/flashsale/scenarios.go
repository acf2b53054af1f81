package flashsale

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
)

// Slug names the challenge in the catalog and in templates/.
const Slug = "flash-sale"

// Numbers the brief holds the app to.
const (
	// Buyers is how many orders a burst sends at once, spread evenly over the two replicas.
	Buyers = 24
	// DBLatency is what the harness adds to the Postgres link, each way, during the bursts:
	// it widens the window between a read and a write, as a busy database does.
	DBLatency = 15 * time.Millisecond
	// RequestTimeout is how long one request of a burst may take.
	RequestTimeout = 10 * time.Second
)

// Scenarios returns the challenge's scenario table in the order it runs.
func Scenarios() []scenarios.Scenario {
	return []scenarios.Scenario{
		{Slug: "basic_buy_and_sold_out", Title: "An item is bought down to sold out, and both replicas read the same stock", Weight: 10, Visibility: scenarios.Public, Run: basic},
		{Slug: "concurrent_no_oversell", Title: "24 simultaneous buyers on both replicas for 5 units: exactly 5 confirmed", Weight: 20, Visibility: scenarios.Public, Run: noOversell},
		{Slug: "concurrent_no_false_sold_out", Title: "24 simultaneous buyers with enough stock for all: every order confirmed", Weight: 20, Visibility: scenarios.Public, Run: noFalseSoldOut},
		{Slug: "linearizable_history", Title: "Orders and stock reads interleaved on both replicas form a linearizable history", Weight: 15, Visibility: scenarios.Public, Run: linearizable},
		{Slug: "order_retry_idempotent", Title: "A retried order returns the same order and takes its units once, even when the copies arrive together", Weight: 20, Visibility: scenarios.Public, Run: retryIdempotent},
		{Slug: "last_unit_retry", Title: "A retry of the order that took the last unit gets that order back, not sold_out", Weight: 15, Visibility: scenarios.Hidden, Run: lastUnitRetry},
		{Slug: "restock_keeps_orders", Title: "A restock sets the stock and keeps the orders already confirmed", Weight: 5, Visibility: scenarios.Public, Run: restockKeepsOrders},
		{Slug: "sold_out_order_can_retry", Title: "An order_id answered sold_out leaves nothing behind and can be placed again", Weight: 5, Visibility: scenarios.Hidden, Run: soldOutOrderCanRetry},
	}
}

// order is the contract's order object; extra fields are allowed and ignored.
type order struct {
	OrderID  string `json:"order_id"`
	SKU      string `json:"sku"`
	Quantity int64  `json:"quantity"`
	Status   string `json:"status"`
}

func (o order) String() string {
	return fmt.Sprintf(`{"order_id":%q,"sku":%q,"quantity":%d,"status":%q}`, o.OrderID, o.SKU, o.Quantity, o.Status)
}

func newID(prefix string) string {
	return "hf-" + prefix + "-" + scenarios.RandomHex(6)
}

func itemPath(sku string) string { return "/api/items/" + url.PathEscape(sku) }

// putItem starts a sale of sku with stock units.
func putItem(ctx context.Context, h *scenarios.Harness, sku string, stock int64, replica int) error {
	r := h.Do(ctx, scenarios.Request{Method: http.MethodPut, Path: itemPath(sku), Body: scenarios.JSON(map[string]any{"stock": stock}), Replica: replica})
	if r.Status != http.StatusCreated && r.Status != http.StatusOK {
		return scenarios.Failf(fmt.Sprintf("201 (or 200) for PUT /api/items/%s {\"stock\": %d}", sku, stock), hintFor(r), "%s", r.Describe())
	}
	return nil
}

// readStock reads sku's remaining stock from one replica.
func readStock(ctx context.Context, h *scenarios.Harness, sku string, replica int) (int64, error) {
	r := h.Do(ctx, scenarios.Request{Path: itemPath(sku), Replica: replica, Timeout: RequestTimeout})
	return parseStock(r, sku, replica)
}

func parseStock(r scenarios.Response, sku string, replica int) (int64, error) {
	what := fmt.Sprintf("GET /api/items/%s on replica %d", sku, replica)
	if r.Status != http.StatusOK {
		return 0, scenarios.Failf("200 for "+what, hintFor(r), "%s", r.Describe())
	}
	var body struct {
		SKU   string          `json:"sku"`
		Stock json.RawMessage `json:"stock"`
	}
	if err := scenarios.Decode(r, &body, "an item for "+what); err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(string(body.Stock), 10, 64)
	if err != nil || body.SKU != sku {
		return 0, scenarios.Failf(fmt.Sprintf(`{"sku":%q,"stock":<integer>} for %s`, sku, what),
			"Answer with the item's sku and its remaining stock as an integer.", "%s", r.Describe())
	}
	return n, nil
}

// expectStock checks every replica reads want.
func expectStock(ctx context.Context, h *scenarios.Harness, sku string, want int64, when string) error {
	for replica := 1; replica <= h.Replicas(); replica++ {
		got, err := readStock(ctx, h, sku, replica)
		if err != nil {
			return err
		}
		if got != want {
			hint := "Take units only for a new confirmed order, in its own transaction."
			if got > want {
				hint = hintStale // the read missed an order: explainStale says where the copy is
			}
			return explainStale(ctx, h, sku, scenarios.Failf(fmt.Sprintf("stock %d on every replica %s", want, when), hint,
				"replica %d answered %d", replica, got))
		}
	}
	return nil
}

func postOrder(ctx context.Context, h *scenarios.Harness, id, sku string, qty int64, replica int) scenarios.Response {
	return h.Do(ctx, scenarios.Request{Method: http.MethodPost, Path: "/api/orders", Replica: replica, Timeout: RequestTimeout,
		Body: scenarios.JSON(map[string]any{"order_id": id, "sku": sku, "quantity": qty})})
}

// answer is how the app answered an order.
type answer int

const (
	confirmed answer = iota // 201 with the order
	replayed                // 200 with the order
	soldOut                 // 409 {"error":"sold_out"}
)

// classify checks an answer to an order is one the contract allows and carries the order
// that was asked for.
func classify(r scenarios.Response, want order, what string) (answer, error) {
	switch r.Status {
	case http.StatusCreated, http.StatusOK:
		var got order
		if err := scenarios.Decode(r, &got, "an order for "+what); err != nil {
			return 0, err
		}
		if got != want {
			return 0, scenarios.Failf(fmt.Sprintf("the order %s for %s", want, what),
				"Answer with the order as it was placed: its order_id, sku and quantity, and status \"confirmed\".", "%s", r.Describe())
		}
		if r.Status == http.StatusOK {
			return replayed, nil
		}
		return confirmed, nil
	case http.StatusConflict:
		var body struct {
			Error string `json:"error"`
		}
		if err := scenarios.Decode(r, &body, "an error for "+what); err != nil {
			return 0, err
		}
		if body.Error != "sold_out" {
			return 0, scenarios.Failf(`409 {"error":"sold_out"} when too few units remain, for `+what,
				"Use 409 only for sold out, with the error text \"sold_out\".", "%s", r.Describe())
		}
		return soldOut, nil
	}
	return 0, scenarios.Failf(`201 with the order, or 409 {"error":"sold_out"}, for `+what, hintFor(r), "%s", r.Describe())
}

func hintFor(r scenarios.Response) string {
	switch {
	case r.Err != nil && r.TimedOut():
		return "The request hung. Look for a lock held across requests, a transaction left open, or a connection pool too small for a burst."
	case r.Err != nil:
		return "The app dropped the connection. Look at its log for a panic or crash."
	case r.Status >= 500:
		return "The app answered with a server error; its log usually says why. Under concurrency, retry a transaction that fails with a serialization error or a deadlock instead of giving up."
	}
	return "Compare your status codes with the API contract in the brief."
}

// sale records the history of one item's sale for checkSale.
type sale struct {
	h     *scenarios.Harness
	sku   string
	start time.Time

	mu  sync.Mutex
	ops []op
}

func newSale(h *scenarios.Harness, sku string) *sale {
	return &sale{h: h, sku: sku, start: time.Now()}
}

// step is one request a client of a sale sends.
type step struct {
	kind    opKind
	replica int
	orderID string
	qty     int64
}

// do sends one step and records it. An answer outside the contract is the learner's failure.
func (s *sale) do(ctx context.Context, st step) error {
	o := op{Kind: st.kind, Replica: st.replica, OrderID: st.orderID, Qty: st.qty}
	o.Call = time.Since(s.start)
	var r scenarios.Response
	if st.kind == opRead {
		r = s.h.Do(ctx, scenarios.Request{Path: itemPath(s.sku), Replica: st.replica, Timeout: RequestTimeout})
	} else {
		r = postOrder(ctx, s.h, st.orderID, s.sku, st.qty, st.replica)
	}
	o.Return = time.Since(s.start)
	if st.kind == opRead {
		n, err := parseStock(r, s.sku, st.replica)
		if err != nil {
			return err
		}
		o.Stock = n
	} else {
		what := fmt.Sprintf("new order %s (%d of %s) on replica %d", st.orderID, st.qty, s.sku, st.replica)
		a, err := classify(r, order{OrderID: st.orderID, SKU: s.sku, Quantity: st.qty, Status: "confirmed"}, what)
		if err != nil {
			return err
		}
		if a == replayed {
			return scenarios.Failf("201 Created for "+what, "Answer 201 when an order is confirmed for the first time; 200 is for a retry of the same order_id.", "%s", r.Describe())
		}
		o.Confirmed = a == confirmed
	}
	s.mu.Lock()
	s.ops = append(s.ops, o)
	s.mu.Unlock()
	return nil
}

// run releases every client at once; each sends its steps one after another and stops at its
// first answer outside the contract. It returns the first client's failure.
func (s *sale) run(ctx context.Context, clients [][]step) error {
	errs := make([]error, len(clients))
	gate := make(chan struct{})
	var ready, done sync.WaitGroup
	ready.Add(len(clients))
	done.Add(len(clients))
	for i, steps := range clients {
		go func() {
			defer done.Done()
			ready.Done()
			select {
			case <-gate:
			case <-ctx.Done():
				errs[i] = ctx.Err()
				return
			}
			for _, st := range steps {
				if err := s.do(ctx, st); err != nil {
					errs[i] = err
					return
				}
			}
		}()
	}
	ready.Wait()
	close(gate)
	done.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// readAll reads the stock on every replica, one after another, into the history.
func (s *sale) readAll(ctx context.Context) error {
	for replica := 1; replica <= s.h.Replicas(); replica++ {
		if err := s.do(ctx, step{kind: opRead, replica: replica}); err != nil {
			return err
		}
	}
	return nil
}

func (s *sale) history() []op {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]op(nil), s.ops...)
}

// burstSale puts sku on sale with stock units, reads it on every replica, runs the clients
// with the database link slowed, reads it again everywhere and checks the whole history.
func burstSale(ctx context.Context, h *scenarios.Harness, prefix string, stock int64, clients func(sku string) [][]step) ([]op, error) {
	sku := newID(prefix)
	if err := putItem(ctx, h, sku, stock, 1); err != nil {
		return nil, err
	}
	s := newSale(h, sku)
	if err := s.readAll(ctx); err != nil {
		return nil, err
	}
	if err := h.WithLinkLatency(ctx, "postgres", DBLatency, func() error { return s.run(ctx, clients(sku)) }); err != nil {
		return nil, err
	}
	if err := s.readAll(ctx); err != nil {
		return nil, err
	}
	ops := s.history()
	return ops, explainStale(ctx, h, sku, checkSale(stock, ops))
}

// buyers is one burst: Buyers clients with one fresh order each, spread evenly over the
// replicas; qty says how many units buyer i asks for.
func buyers(h *scenarios.Harness, prefix string, qty func(i int) int64) [][]step {
	clients := make([][]step, Buyers)
	for i := range clients {
		clients[i] = []step{{kind: opBuy, replica: i%h.Replicas() + 1, orderID: newID(prefix), qty: qty(i)}}
	}
	return clients
}
