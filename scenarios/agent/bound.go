package agent

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
)

// Bounds on what the fakes keep. The learner's app is untrusted: without them a stream of huge
// keys or an endless retry loop grows the agent until it dies, and a dead agent reads as the
// grader's failure. An app that goes beyond a bound gets an error answer, and the fake records
// an Overflow; the grader turns it into the learner's failure of the scenario.
const (
	// MaxKeyBytes bounds an Idempotency-Key, as Stripe does.
	MaxKeyBytes = 255
	// MaxIDBytes bounds a charge's payment_id.
	MaxIDBytes = 255
	// MaxChargeBody bounds a charge request's body.
	MaxChargeBody = 64 << 10
	// MaxCharges bounds the provider's ledger and its idempotency keys.
	MaxCharges = 20_000
	// MaxCalls bounds the downstream's record of calls.
	MaxCalls = 20_000
	// MaxBodyKept is how much of a downstream call's body the record keeps (Call.BodyBytes has
	// the original size).
	MaxBodyKept = 4 << 10
	// MaxDownstreamBody bounds a downstream call's body; a longer one is refused.
	MaxDownstreamBody = 1 << 20
	// MaxURIBytes bounds a downstream call's path and query.
	MaxURIBytes = 2 << 10
	// MaxKeptBytes bounds the bodies and headers the downstream's record keeps in all: 20 000
	// calls of 4 KiB bodies and headers each held 285 MiB of the agent's memory.
	MaxKeptBytes = 32 << 20
	// MaxHeaderKept is how many bytes of a downstream call's headers (names and values) the
	// record keeps; the rest are dropped from the record.
	MaxHeaderKept = 4 << 10
	// maxHeaderBytes bounds the request headers the fakes read at all.
	maxHeaderBytes = 64 << 10
)

// OverflowKind names the bound an app went beyond.
type OverflowKind string

const (
	OverflowKey        OverflowKind = "provider_key"        // an Idempotency-Key over MaxKeyBytes
	OverflowPaymentID  OverflowKind = "provider_payment_id" // a payment_id over MaxIDBytes
	OverflowChargeBody OverflowKind = "provider_body"       // a charge body over MaxChargeBody
	OverflowLedger     OverflowKind = "provider_ledger"     // a charge beyond MaxCharges
	OverflowCalls      OverflowKind = "downstream_calls"    // a call beyond MaxCalls
	OverflowCallBody   OverflowKind = "downstream_body"     // a body over MaxDownstreamBody
	OverflowURI        OverflowKind = "downstream_uri"      // a path and query over MaxURIBytes
	OverflowKept       OverflowKind = "downstream_kept"     // headers and bodies beyond MaxKeptBytes
)

// Overflow is what a fake records when the app goes beyond one of its bounds: which bound, how
// often, and the largest size seen (bytes, or for the ledger and the record the number of
// requests that reached it).
type Overflow struct {
	Kind    OverflowKind `json:"kind"`
	Count   int          `json:"count"`
	Largest int          `json:"largest"`
}

// Sentence says in a learner's words what the app did and what the bound is.
func (o Overflow) Sentence() string {
	times := ""
	if o.Count > 1 {
		times = fmt.Sprintf(" (%d such requests)", o.Count)
	}
	switch o.Kind {
	case OverflowKey:
		return fmt.Sprintf("the app sent the payment provider an Idempotency-Key of %d bytes%s; the provider accepts keys of at most %d bytes", o.Largest, times, MaxKeyBytes)
	case OverflowPaymentID:
		return fmt.Sprintf("the app sent the payment provider a payment_id of %d bytes%s; the provider accepts at most %d bytes", o.Largest, times, MaxIDBytes)
	case OverflowChargeBody:
		return fmt.Sprintf("the app sent the payment provider a charge request body over %d KiB%s", MaxChargeBody>>10, times)
	case OverflowLedger:
		return fmt.Sprintf("the app sent the payment provider %d charges; the brief's bound for one grading is %d", o.Largest, MaxCharges)
	case OverflowCalls:
		return fmt.Sprintf("the app sent the downstream service %d requests; the brief's bound for one grading is %d", o.Largest, MaxCalls)
	case OverflowCallBody:
		return fmt.Sprintf("the app sent the downstream service a body over %d KiB%s", MaxDownstreamBody>>10, times)
	case OverflowKept:
		return fmt.Sprintf("the app sent the downstream service more than %d MiB of headers and bodies (%d requests beyond it); the brief's bound for one grading is %d MiB", MaxKeptBytes>>20, o.Count, MaxKeptBytes>>20)
	case OverflowURI:
		return fmt.Sprintf("the app sent the downstream service a path of %d bytes%s; it accepts at most %d", o.Largest, times, MaxURIBytes)
	}
	return fmt.Sprintf("the app went beyond the fakes' bound %q %d time(s)", o.Kind, o.Count)
}

// OverflowError is what the client returns from an observation (the ledger, the downstream's
// calls) when the app went beyond a fake's bounds since the last reset: what the fake kept is
// not the whole truth, so the scenario cannot judge it, and the learner's app is why.
type OverflowError struct {
	Overflows []Overflow
}

func (e *OverflowError) Error() string {
	parts := make([]string, len(e.Overflows))
	for i, o := range e.Overflows {
		parts[i] = o.Sentence()
	}
	return strings.Join(parts, "; ")
}

// overflows records the bounds an app went beyond. Its size is bounded by the number of kinds.
type overflows struct {
	mu   sync.Mutex
	seen []Overflow
}

// note records one request beyond kind's bound, of size n.
func (o *overflows) note(kind OverflowKind, n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := range o.seen {
		if o.seen[i].Kind == kind {
			o.seen[i].Count++
			o.seen[i].Largest = max(o.seen[i].Largest, n)
			return
		}
	}
	o.seen = append(o.seen, Overflow{Kind: kind, Count: 1, Largest: n})
}

func (o *overflows) list() []Overflow {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]Overflow(nil), o.seen...)
}

func (o *overflows) clear() {
	o.mu.Lock()
	o.seen = nil
	o.mu.Unlock()
}

// OverflowHeader carries the overflows since the last reset on every control API answer, as
// JSON; the client turns them into an *OverflowError on observations.
const OverflowHeader = "Holdfast-Overflow"

// writeJSONArray writes items as a JSON array one element at a time, so that a large record is
// never held twice in memory (json.Encoder buffers a whole value before writing it).
func writeJSONArray[T any](w http.ResponseWriter, items []T) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	_ = bw.WriteByte('[')
	for i := range items {
		if i > 0 {
			_ = bw.WriteByte(',')
		}
		if err := enc.Encode(items[i]); err != nil {
			return
		}
	}
	_, _ = bw.WriteString("]\n")
	_ = bw.Flush()
}
