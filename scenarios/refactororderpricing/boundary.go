package refactororderpricing

import (
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/holdfast-ci/holdfast/scenarios"
)

const (
	// inFlight is how many of the boundary scenario's requests are sent at once: enough to keep
	// a one-CPU app busy while the next request crosses the network.
	inFlight = 4
	// batch is how many probes are sent before looking for a difference: a head that changed
	// behaviour stops after the first batch that shows it (the probes are shuffled, so that is
	// usually the first), and which probes were sent does not depend on timing.
	batch = 250
	// shrinkBudget caps the requests spent shrinking a differing probe to its smallest form.
	shrinkBudget = 200
)

// generated is Generate(GeneratorSeed), drawn once per process: drawing prices 60 000 random
// carts to find the rounding windows (about 100 ms and 36 MB of garbage), and every grading of
// the challenge, base and head alike, sends the same probes. Read only: gradings share it.
var generated = sync.OnceValue(func() []Probe { return Generate(GeneratorSeed) })

// boundary sends the probes Generate(GeneratorSeed) draws and holds each whole answer to the
// brief: the status, the Content-Type, and every field of the body both ways (a field missing,
// changed or added). The oracle stands in for the base: a refactor challenge's starter answers
// every probe as the oracle does (the kill matrix grades it first), so an answer that differs
// from the oracle differs from the base. On a difference it shrinks the smallest differing probe
// of the batch (fewer items, smaller quantities, fewer fields) while it still differs, and
// reports that one.
func boundary(ctx context.Context, h *scenarios.Harness) error {
	probes := generated()
	diffs := make([]string, len(probes))
	sent := 0
	for sent < len(probes) && !anyDiff(diffs[:sent]) {
		end := min(sent+batch, len(probes))
		send(ctx, h, probes[sent:end], diffs[sent:end])
		if err := ctx.Err(); err != nil {
			return err
		}
		sent = end
	}
	smallest := smallestDiff(probes[:sent], diffs[:sent])
	if smallest < 0 {
		return nil
	}
	// The change shows: look for a smaller witness among the probes not sent yet, the smallest
	// first, before shrinking (shrinking one step at a time cannot keep, say, a tie).
	var rest []int
	for i := sent; i < len(probes); i++ {
		if probes[i].size() < probes[smallest].size() {
			rest = append(rest, i)
		}
	}
	sort.SliceStable(rest, func(a, b int) bool { return probes[rest[a]].size() < probes[rest[b]].size() })
	rest = rest[:min(len(rest), batch)]
	more, moreDiffs := make([]Probe, len(rest)), make([]string, len(rest))
	for k, i := range rest {
		more[k] = probes[i]
	}
	send(ctx, h, more, moreDiffs)
	if err := ctx.Err(); err != nil {
		return err
	}
	for k, i := range rest {
		diffs[i] = moreDiffs[k]
	}
	smallest = smallestDiff(probes, diffs)
	found := 0
	for _, d := range diffs {
		if d != "" {
			found++
		}
	}
	p, diff := shrink(probes[smallest], diffs[smallest], shrinkBudget, func(c Probe) string { return answerDiff(ctx, h, c) })
	if err := ctx.Err(); err != nil {
		return err
	}
	status, want := p.Want()
	expected := fmt.Sprintf("200 with the quote the brief gives for %s", p.describe())
	if status != http.StatusOK {
		expected = fmt.Sprintf("%d %s for %s", status, short(want), p.describe())
	}
	return scenarios.Failf(expected, hintFor(p, diff),
		"%s (POST /api/quote %s; the smallest of %d differing requests among %d of the %d generated from seed %d)",
		diff, p.Body(), found, sent+len(rest), len(probes), GeneratorSeed)
}

// smallestDiff is the index of the smallest probe whose answer differed (the first of equals),
// or -1.
func smallestDiff(probes []Probe, diffs []string) int {
	smallest := -1
	for i, d := range diffs {
		if d != "" && (smallest < 0 || probes[i].size() < probes[smallest].size()) {
			smallest = i
		}
	}
	return smallest
}

// send sends probes inFlight at a time and stores each answer's difference in diffs.
func send(ctx context.Context, h *scenarios.Harness, probes []Probe, diffs []string) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range inFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= len(probes) {
					return
				}
				diffs[i] = answerDiff(ctx, h, probes[i])
			}
		}()
	}
	wg.Wait()
}

func anyDiff(diffs []string) bool {
	for _, d := range diffs {
		if d != "" {
			return true
		}
	}
	return false
}

// answerDiff sends p and names the first way its answer differs from the brief's, or "".
func answerDiff(ctx context.Context, h *scenarios.Harness, p Probe) string {
	r := h.Do(ctx, scenarios.Request{Method: http.MethodPost, Path: "/api/quote", Body: p.Body()})
	return wholeAnswerDiff(r, p)
}

// wholeAnswerDiff compares a whole answer with the brief's for p: status, Content-Type, body.
func wholeAnswerDiff(r scenarios.Response, p Probe) string {
	status, want := p.Want()
	if r.Err != nil {
		return r.Describe()
	}
	if r.Status != status {
		return fmt.Sprintf("the answer is %s, the brief gives %d %s", r.Describe(), status, short(want))
	}
	if d := contentTypeDiff(r); d != "" {
		return d
	}
	var got any
	if err := json.Unmarshal(r.Body, &got); err != nil {
		return fmt.Sprintf("the body is not JSON: %s", r.Describe())
	}
	return difference(want, got, "")
}

// contentTypeDiff holds an answer to the brief's "Bodies are JSON": Content-Type
// application/json, with or without parameters.
func contentTypeDiff(r scenarios.Response) string {
	ct := r.Header.Get("Content-Type")
	if media, _, err := mime.ParseMediaType(ct); err != nil || media != "application/json" {
		return fmt.Sprintf("Content-Type is %q, the brief gives application/json", ct)
	}
	return ""
}

// shrink makes p smaller while it still differs: it tries dropping each item, each optional
// field, trimming the coupon and lowering each quantity, keeps the first smaller probe that
// still differs, and starts again, until nothing smaller differs or budget requests are spent.
// It returns the smallest differing probe and its difference.
func shrink(p Probe, diff string, budget int, differs func(Probe) string) (Probe, string) {
	for budget > 0 {
		improved := false
		for _, c := range smaller(p) {
			if budget == 0 {
				break
			}
			if c.size() >= p.size() {
				continue
			}
			budget--
			if d := differs(c); d != "" {
				p, diff, improved = c, d, true
				break
			}
		}
		if !improved {
			break
		}
	}
	return p, diff
}

// smaller lists the one-step reductions of p, the boldest first.
func smaller(p Probe) []Probe {
	var out []Probe
	with := func(edit func(c *Cart)) {
		c := p.Cart
		c.Items = append([]Item(nil), p.Cart.Items...)
		edit(&c)
		out = append(out, Probe{Cart: c, Fault: p.Fault})
	}
	keep := 0
	if p.Fault != "" {
		keep = 1 // a wrong-typed item needs an item
	}
	if len(p.Cart.Items) > keep {
		for i := range p.Cart.Items {
			with(func(c *Cart) { c.Items = append(c.Items[:i], c.Items[i+1:]...) })
		}
	}
	with(func(c *Cart) { c.Coupon = "" })
	with(func(c *Cart) { c.Tier = "" })
	with(func(c *Cart) { c.Region = "" })
	with(func(c *Cart) { c.Coupon = strings.TrimSpace(c.Coupon) })
	// Quantities lowered together: one at a time cannot keep two lines' totals equal.
	for _, k := range []int{1, 2} {
		with(func(c *Cart) {
			for i := range c.Items {
				c.Items[i].Qty = k
			}
		})
	}
	for i := range p.Cart.Items {
		for j := i + 1; j < len(p.Cart.Items); j++ {
			for _, q := range [][2]int{{1, 1}, {1, 2}, {2, 1}} {
				with(func(c *Cart) { c.Items[i].Qty, c.Items[j].Qty = q[0], q[1] })
			}
		}
	}
	for i, it := range p.Cart.Items {
		var qtys []int
		switch {
		case it.Qty > 1:
			qtys = []int{1, it.Qty / 2, it.Qty - 1}
		case it.Qty < 0:
			qtys = []int{0, it.Qty / 2, it.Qty + 1}
		}
		for _, q := range qtys {
			with(func(c *Cart) { c.Items[i].Qty = q })
		}
	}
	return out
}

// hintFor says what to look at, from what the smallest differing answer shows.
func hintFor(p Probe, diff string) string {
	status, _ := p.Want()
	_, refusal := Price(p.Cart)
	switch {
	case strings.Contains(diff, "which the brief does not give"):
		return "Answer with exactly the contract's fields: a field the service did not send before is a change too."
	case strings.HasPrefix(diff, "Content-Type"):
		return "Every answer, quotes and errors alike, is sent with Content-Type: application/json."
	case strings.HasPrefix(diff, "the answer is") && status == http.StatusOK:
		return "The service quoted this cart before the refactor: a check was added or tightened."
	case strings.HasPrefix(diff, "the answer is") && p.Fault == "" && refusal != nil && strings.HasPrefix(refusal.Message, "qty"):
		return "Each quantity is checked as it is sent (1 to 999), before merging, and each merged line again after: a merge must not hide a quantity out of range."
	case strings.HasPrefix(diff, "the answer is"), strings.HasPrefix(diff, "error is"):
		return "Keep every check, its message and its order: all 400 checks (body, items, quantities, tier) come before the 422 ones (products, region, coupon)."
	case strings.HasPrefix(diff, "lines has"):
		return "The brief gives one line per product: a repeated product is merged into one line, where it first appears, and no product is left out."
	case strings.HasPrefix(diff, "lines") && strings.Contains(diff, ".sku is"):
		return "Lines with equal totals keep the order in which their products were first asked for: a repeated product keeps its first position."
	case strings.HasPrefix(diff, "lines"):
		return "A line's discount is 5 % of its gross from 10 units and 10 % from 50, never on gift cards, rounded half to even."
	case strings.HasPrefix(diff, "tax"):
		return "Every other field is right, so look at VAT: it is rounded once, half to even, on goods after discounts plus shipping together."
	}
	return "Send this request to the base and to your head and compare the answers field by field."
}
