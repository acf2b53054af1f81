package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Charge is one entry of the provider's ledger: money that really moved.
type Charge struct {
	Seq            int       `json:"seq"`
	ID             string    `json:"id"`
	PaymentID      string    `json:"payment_id"`
	Amount         int64     `json:"amount"`
	Currency       string    `json:"currency"`
	IdempotencyKey string    `json:"idempotency_key,omitempty"`
	At             time.Time `json:"at"`
}

// ProviderMode says how the provider answers the next Count charge requests.
type ProviderMode string

const (
	// ModeNormal answers every request.
	ModeNormal ProviderMode = ""
	// ModeFail answers 500 without charging.
	ModeFail ProviderMode = "fail"
	// ModeChargeThenFail records the charge, then answers 500: the response is lost, the money is not.
	ModeChargeThenFail ProviderMode = "charge_then_fail"
	// ModeHang holds the request without charging until the caller gives up (or HangMS passes).
	ModeHang ProviderMode = "hang"
	// ModeChargeThenHang records the charge, then holds the request like ModeHang.
	ModeChargeThenHang ProviderMode = "charge_then_hang"
)

// ProviderBehaviour is sent to POST /provider/behaviour. Count requests get Mode; after them the
// provider answers normally again. LatencyMS delays every answer (to widen race windows).
type ProviderBehaviour struct {
	Mode      ProviderMode `json:"mode"`
	Count     int          `json:"count"`
	LatencyMS int64        `json:"latency_ms"`
	HangMS    int64        `json:"hang_ms"`
}

// LedgerSnapshot is what GET /provider/ledger answers.
type LedgerSnapshot struct {
	Charges  []Charge `json:"charges"`
	Requests int      `json:"requests"` // charge requests received, answered or not
	// Payments is how many distinct payment_ids those requests asked for (at most MaxCharges):
	// Requests beyond them are the app's retries, with or without an Idempotency-Key.
	Payments int `json:"payments"`
}

// maxHang bounds a hang even when the caller never gives up.
const maxHang = 60 * time.Second

// Provider is a fake payment provider with Stripe's idempotency semantics: a repeated
// Idempotency-Key returns the charge made under it instead of charging again; the same key with
// other parameters is a 400; the same key while its first request is still running is a 409.
type Provider struct {
	mu        sync.Mutex
	ledger    []Charge
	byKey     map[string]*keyState
	requests  int
	payments  map[string]struct{} // the distinct payment_ids asked for, up to MaxCharges
	behaviour ProviderBehaviour
	stop      chan struct{}
	// refused counts charges refused because the ledger was full.
	refused  int
	overflow overflows
	// events records each charge request for the timeline; nil records nothing.
	events *EventLog
}

type keyState struct {
	params   chargeRequest
	charge   *Charge
	inFlight bool
}

type chargeRequest struct {
	Amount    int64  `json:"amount"`
	Currency  string `json:"currency"`
	PaymentID string `json:"payment_id"`
}

// NewProvider returns an empty provider. Close releases hanging requests.
func NewProvider() *Provider {
	return &Provider{byKey: map[string]*keyState{}, payments: map[string]struct{}{}, stop: make(chan struct{})}
}

// Close ends every hang at once, so that shutdown does not wait for them.
func (p *Provider) Close() { close(p.stop) }

// Behave sets how the next requests are answered.
func (p *Provider) Behave(b ProviderBehaviour) error {
	switch b.Mode {
	case ModeNormal, ModeFail, ModeChargeThenFail, ModeHang, ModeChargeThenHang:
	default:
		return fmt.Errorf("unknown provider mode %q", b.Mode)
	}
	if b.Mode != ModeNormal && b.Count <= 0 {
		return fmt.Errorf("mode %q needs count > 0", b.Mode)
	}
	if b.LatencyMS < 0 || b.HangMS < 0 {
		return fmt.Errorf("latency_ms and hang_ms must not be negative")
	}
	p.mu.Lock()
	p.behaviour = b
	p.mu.Unlock()
	return nil
}

// Ledger returns a copy of every charge so far and the numbers of requests and payments.
func (p *Provider) Ledger() LedgerSnapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	return LedgerSnapshot{Charges: append([]Charge(nil), p.ledger...), Requests: p.requests, Payments: len(p.payments)}
}

// Overflows are the bounds the app went beyond since the last ClearOverflows.
func (p *Provider) Overflows() []Overflow { return p.overflow.list() }

// ClearOverflows forgets the overflows recorded so far; the ledger stays.
func (p *Provider) ClearOverflows() { p.overflow.clear() }

// ServeHTTP answers POST /v1/charges, the only route a learner's app talks to, and records
// each request with its answer for the timeline.
func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.events.recordCall(w, r, "provider", r.Method+" "+r.URL.Path, p.serve)
}

// serve answers one charge request and returns what the timeline should say of it beyond the
// status: a charge made or replayed, a fault that shaped the answer.
func (p *Provider) serve(w http.ResponseWriter, r *http.Request) (note string) {
	if r.URL.Path != "/v1/charges" || r.Method != http.MethodPost {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "the provider only serves POST /v1/charges"})
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if len(key) > MaxKeyBytes {
		p.overflow.note(OverflowKey, len(key))
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("Idempotency-Key is %d bytes; at most %d are accepted", len(key), MaxKeyBytes)})
		return
	}
	var req chargeRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxChargeBody))
	if err := dec.Decode(&req); err != nil {
		if tooLarge := (*http.MaxBytesError)(nil); errors.As(err, &tooLarge) {
			p.overflow.note(OverflowChargeBody, MaxChargeBody)
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": fmt.Sprintf("a charge request body is at most %d KiB", MaxChargeBody>>10)})
			return
		}
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body must be JSON {amount, currency, payment_id}: " + err.Error()})
		return
	}
	if req.Amount <= 0 || len(req.Currency) != 3 || req.PaymentID == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "amount > 0, a 3-letter currency and payment_id are required"})
		return
	}
	if len(req.PaymentID) > MaxIDBytes {
		p.overflow.note(OverflowPaymentID, len(req.PaymentID))
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("payment_id is %d bytes; at most %d are accepted", len(req.PaymentID), MaxIDBytes)})
		return
	}

	p.mu.Lock()
	p.requests++
	if _, seen := p.payments[req.PaymentID]; !seen && len(p.payments) < MaxCharges {
		p.payments[req.PaymentID] = struct{}{}
	}
	b := p.behaviour
	mode := b.Mode
	if mode != ModeNormal {
		p.behaviour.Count--
		if p.behaviour.Count <= 0 {
			p.behaviour.Mode, p.behaviour.Count = ModeNormal, 0
		}
	}
	var st *keyState
	if key != "" {
		st = p.byKey[key]
		switch {
		case st != nil && st.params != req:
			p.mu.Unlock()
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "idempotency key reused with different parameters"})
			return
		case st != nil && st.inFlight:
			p.mu.Unlock()
			writeJSON(w, http.StatusConflict, map[string]string{"error": "a request with this idempotency key is in progress"})
			return
		case st != nil && st.charge != nil:
			c := *st.charge
			p.mu.Unlock()
			p.delay(r, b.LatencyMS)
			writeJSON(w, http.StatusOK, chargeBody(c))
			return "replayed " + c.ID + ", no new charge"
		}
		if st == nil && len(p.byKey) >= MaxCharges {
			p.refuseFull(w)
			return
		}
		if st == nil {
			st = &keyState{params: req}
			p.byKey[key] = st
		}
		st.inFlight = true
	}
	var charged *Charge
	if mode == ModeNormal || mode == ModeChargeThenFail || mode == ModeChargeThenHang {
		if len(p.ledger) >= MaxCharges {
			if st != nil {
				st.inFlight = false
			}
			p.refuseFull(w)
			return
		}
		c := Charge{Seq: len(p.ledger) + 1, ID: fmt.Sprintf("ch_%06d", len(p.ledger)+1), PaymentID: req.PaymentID,
			Amount: req.Amount, Currency: req.Currency, IdempotencyKey: key, At: time.Now().UTC()}
		p.ledger = append(p.ledger, c)
		charged = &c
		note = "charged " + c.ID
		if st != nil {
			st.charge = &c
		}
	}
	p.mu.Unlock()
	defer func() {
		if st != nil {
			p.mu.Lock()
			st.inFlight = false
			p.mu.Unlock()
		}
	}()

	if mode != ModeNormal {
		note = joinNote(note, "fault "+string(mode))
	}
	switch mode {
	case ModeFail, ModeChargeThenFail:
		p.delay(r, b.LatencyMS)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "provider unavailable"})
	case ModeHang, ModeChargeThenHang:
		hang := maxHang
		if b.HangMS > 0 {
			hang = time.Duration(b.HangMS) * time.Millisecond
		}
		p.delay(r, hang.Milliseconds())
		writeJSON(w, http.StatusGatewayTimeout, map[string]string{"error": "provider timed out"})
	default:
		p.delay(r, b.LatencyMS)
		writeJSON(w, http.StatusOK, chargeBody(*charged))
	}
	return note
}

// refuseFull answers a charge the full ledger cannot take. Callers hold mu; it releases it.
func (p *Provider) refuseFull(w http.ResponseWriter) {
	p.refused++
	p.overflow.note(OverflowLedger, MaxCharges+p.refused)
	p.mu.Unlock()
	writeJSON(w, http.StatusInsufficientStorage, map[string]string{"error": fmt.Sprintf("the provider takes at most %d charges in one grading", MaxCharges)})
}

// delay waits ms milliseconds, or less when the caller hangs up or the provider closes.
func (p *Provider) delay(r *http.Request, ms int64) {
	if ms <= 0 {
		return
	}
	t := time.NewTimer(time.Duration(ms) * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	case <-p.stop:
	}
}

func chargeBody(c Charge) map[string]any {
	return map[string]any{"id": c.ID, "object": "charge", "amount": c.Amount, "currency": c.Currency,
		"payment_id": c.PaymentID, "status": "succeeded"}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
