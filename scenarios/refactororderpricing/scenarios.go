package refactororderpricing

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
)

// Slug names the challenge in the catalog and in templates/.
const Slug = "refactor-order-pricing"

// Seed draws the hidden scenario's carts: fixed, so that a base and a head get the same ones.
const Seed = 20240611

// SeededCarts is how many carts the hidden scenario sends.
const SeededCarts = 150

// Scenarios returns the challenge's scenario table. Every input is fixed: a refactor is graded
// by running the same requests on the base and the head.
func Scenarios() []scenarios.Scenario {
	return []scenarios.Scenario{
		{Slug: "line_pricing", Title: "Lines are priced with the volume discounts at 10 and 50 units", Weight: 15, Visibility: scenarios.Public,
			Run: quotes(linePricing, "Volume discounts start at 10 units (5 %) and 50 units (10 %) of one product; gift cards are never discounted.")},
		{Slug: "rounding", Title: "Every percentage is rounded half to even, in cents, at its own step", Weight: 15, Visibility: scenarios.Public,
			Run: quotes(rounding, "Half a cent rounds to the even cent (276.5 → 276, 277.5 → 278), in integer arithmetic, at each step: line discount, gold discount, coupon, VAT.")},
		{Slug: "coupons", Title: "Coupons and the gold tier apply, stack and round as the brief says", Weight: 15, Visibility: scenarios.Public,
			Run: quotes(coupons, "Coupon codes are trimmed and case-insensitive; gold's 3 % comes first, then the coupon on what is left; WELCOME10 needs 20.00 of discountable goods.")},
		{Slug: "shipping_and_tax", Title: "Shipping by region and weight, free from each region's threshold, and VAT on goods and shipping", Weight: 15, Visibility: scenarios.Public,
			Run: quotes(shippingAndTax, "Shipping is free when the goods after discounts reach the region's threshold (inclusive); VAT applies to goods after discounts plus shipping, never to gift cards.")},
		{Slug: "line_order", Title: "Lines are merged per product and ordered by total, ties in the order they were asked for", Weight: 10, Visibility: scenarios.Public,
			Run: quotes(lineOrder, "Merge repeated products into their first line, then sort by line total, highest first, with a stable sort.")},
		{Slug: "validation_errors", Title: "Bad requests get the same status and message as before", Weight: 15, Visibility: scenarios.Public, Run: validation},
		{Slug: "boundary_carts", Title: "Thousands of requests generated at the brief's boundaries get the same whole answer as before", Weight: 15,
			Visibility: scenarios.Public, Timeout: 90 * time.Second, Run: boundary},
		{Slug: "seeded_carts", Title: "150 generated carts are quoted exactly as the brief says", Weight: 15, Visibility: scenarios.Hidden,
			Run: quotes(seeded, "Compare your quote with the brief field by field: rounding, discount order and thresholds are the usual suspects.")},
	}
}

var (
	linePricing = []Cart{
		{Items: []Item{{"TEA-GREEN", 1}}},
		{Items: []Item{{"TEA-BLACK", 9}}, Region: "US"},
		{Items: []Item{{"TEA-BLACK", 10}}, Region: "US"},
		{Items: []Item{{"TEA-OOLONG", 49}}, Region: "US"},
		{Items: []Item{{"TEA-OOLONG", 50}}, Region: "US"},
		{Items: []Item{{"MUG-CLAY", 2}, {"FILTER-100", 12}, {"GIFT-25", 12}}, Region: "UK"},
	}
	rounding = []Cart{
		{Items: []Item{{"TEA-BLACK", 14}}, Region: "US"},
		{Items: []Item{{"MUG-CLAY", 13}}, Region: "EU"},
		{Items: []Item{{"TEA-OOLONG", 22}}, Region: "UK"},
		{Items: []Item{{"TEA-GREEN", 3}}, Region: "US", Tier: "gold"},
		{Items: []Item{{"MUG-CLAY", 3}}, Region: "CH", Tier: "gold"},
	}
	coupons = []Cart{
		{Items: []Item{{"TEA-GREEN", 4}}, Region: "US", Coupon: "WELCOME10"},
		{Items: []Item{{"TEA-GREEN", 5}}, Region: "US", Coupon: "WELCOME10"},
		{Items: []Item{{"MUG-CLAY", 3}, {"TEA-OOLONG", 1}}, Region: "EU", Coupon: " welcome10 "},
		{Items: []Item{{"TEA-GREEN", 1}, {"TEA-BLACK", 1}, {"MUG-CLAY", 1}}, Region: "EU", Coupon: "TEA5"},
		{Items: []Item{{"TEA-GREEN", 2}, {"TEA-BLACK", 1}, {"MUG-CLAY", 1}}, Region: "EU", Coupon: "tea5"},
		{Items: []Item{{"POT-IRON", 1}, {"FILTER-100", 2}}, Region: "US", Coupon: "FreeShip"},
		{Items: []Item{{"MUG-CLAY", 2}, {"TEA-GREEN", 4}, {"GIFT-25", 1}}, Region: "UK", Coupon: "WELCOME10", Tier: "gold"},
		{Items: []Item{{"TEA-OOLONG", 3}}, Region: "EU", Coupon: "TEA5", Tier: "gold"},
	}
	shippingAndTax = []Cart{
		{Items: []Item{{"POT-IRON", 1}}, Region: "EU"},
		{Items: []Item{{"MUG-CLAY", 4}}, Region: "EU"},
		{Items: []Item{{"MUG-CLAY", 3}, {"TEA-GREEN", 2}}, Region: "UK"},
		{Items: []Item{{"POT-IRON", 1}, {"MUG-CLAY", 2}}, Region: "US"},
		{Items: []Item{{"TEA-BLACK", 7}, {"FILTER-100", 1}}, Region: "CH"},
		{Items: []Item{{"POT-IRON", 2}}, Region: "CH"},
		{Items: []Item{{"GIFT-25", 2}}, Region: "UK"},
		{Items: []Item{{"FILTER-100", 3}}},
	}
	lineOrder = []Cart{
		{Items: []Item{{"FILTER-100", 1}, {"POT-IRON", 1}, {"TEA-BLACK", 2}}, Region: "US"},
		{Items: []Item{{"MUG-CLAY", 2}, {"GIFT-25", 1}}, Region: "US"},
		{Items: []Item{{"TEA-GREEN", 2}, {"FILTER-100", 1}, {"TEA-GREEN", 3}}, Region: "US"},
		{Items: []Item{{"TEA-OOLONG", 1}, {"FILTER-100", 1}, {"TEA-BLACK", 1}, {"TEA-OOLONG", 1}, {"TEA-BLACK", 3}}, Region: "EU"},
	}
)

// seeded draws SeededCarts carts from Seed: a mix of every product, quantity band, region, coupon
// and tier, the same on every run.
func seeded() []Cart {
	r := rand.New(rand.NewPCG(Seed, 7))
	regions := []string{"EU", "UK", "US", "CH", ""}
	coupons := []string{"", "", "WELCOME10", "welcome10", "TEA5", "FREESHIP"}
	tiers := []string{"", "standard", "gold"}
	out := make([]Cart, SeededCarts)
	for i := range out {
		n := 1 + r.IntN(4)
		var c Cart
		for range n {
			qty := 1 + r.IntN(5)
			switch r.IntN(6) {
			case 0:
				qty = 8 + r.IntN(6)
			case 1:
				qty = 47 + r.IntN(6)
			}
			c.Items = append(c.Items, Item{Catalog[r.IntN(len(Catalog))].SKU, qty})
		}
		c.Region = regions[r.IntN(len(regions))]
		c.Coupon = coupons[r.IntN(len(coupons))]
		c.Tier = tiers[r.IntN(len(tiers))]
		out[i] = c
	}
	return out
}

// quotes returns a scenario that asks for a quote of each cart and holds every field to the
// brief.
func quotes[T []Cart | func() []Cart](carts T, hint string) func(context.Context, *scenarios.Harness) error {
	return func(ctx context.Context, h *scenarios.Harness) error {
		var list []Cart
		switch c := any(carts).(type) {
		case []Cart:
			list = c
		case func() []Cart:
			list = c()
		}
		for _, c := range list {
			if err := quoteMatches(ctx, h, c, hint); err != nil {
				return err
			}
		}
		return nil
	}
}

func quoteMatches(ctx context.Context, h *scenarios.Harness, c Cart, hint string) error {
	want, refusal := Price(c)
	if refusal != nil {
		return fmt.Errorf("scenario table: cart %s is refused by the oracle: %s", c.describe(), refusal.Message)
	}
	r := h.Do(ctx, scenarios.Request{Method: http.MethodPost, Path: "/api/quote", Body: scenarios.JSON(c)})
	expected := fmt.Sprintf("200 with the quote the brief gives for %s", c.describe())
	if r.Err != nil || r.Status != http.StatusOK {
		return scenarios.Failf(expected, hint, "%s", r.Describe())
	}
	var got any
	if err := json.Unmarshal(r.Body, &got); err != nil {
		return scenarios.Failf(expected, "Answer with a JSON object.", "%s", r.Describe())
	}
	if d := difference(toJSON(want), got, ""); d != "" {
		return scenarios.Failf(expected, hint, "%s", d)
	}
	return nil
}

func toJSON(v any) any {
	var out any
	b, _ := json.Marshal(v)
	_ = json.Unmarshal(b, &out)
	return out
}

// difference names the first place where got differs from want, or "".
func difference(want, got any, path string) string {
	name := path
	if name == "" {
		name = "the quote"
	}
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s is %s, the brief gives an object", name, short(got))
		}
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		// A line is named by its sku first: "lines[0].sku is GIFT-25" says more than its name.
		sort.Slice(keys, func(i, j int) bool {
			return (keys[i] == "sku") != (keys[j] == "sku") && keys[i] == "sku" || (keys[i] == "sku") == (keys[j] == "sku") && keys[i] < keys[j]
		})
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			gv, ok := g[k]
			if !ok {
				return fmt.Sprintf("%s is missing (the brief gives %s)", p, short(w[k]))
			}
			if d := difference(w[k], gv, p); d != "" {
				return d
			}
		}
		// Both ways: a field the brief does not give is a change too.
		extra := make([]string, 0, len(g))
		for k := range g {
			if _, ok := w[k]; !ok {
				extra = append(extra, k)
			}
		}
		if len(extra) == 0 {
			return ""
		}
		sort.Strings(extra)
		p := extra[0]
		if path != "" {
			p = path + "." + p
		}
		return fmt.Sprintf("%s is %s, which the brief does not give", p, short(g[extra[0]]))
	case []any:
		g, ok := got.([]any)
		if !ok {
			return fmt.Sprintf("%s is %s, the brief gives a list", name, short(got))
		}
		if len(g) != len(w) {
			return fmt.Sprintf("%s has %d entries, the brief gives %d: %s", name, len(g), len(w), short(got))
		}
		for i := range w {
			if d := difference(w[i], g[i], fmt.Sprintf("%s[%d]", path, i)); d != "" {
				return d
			}
		}
		return ""
	}
	if !reflect.DeepEqual(want, got) {
		return fmt.Sprintf("%s is %s, the brief gives %s", name, short(got), short(want))
	}
	return ""
}

func short(v any) string {
	b, _ := json.Marshal(v)
	s := string(b)
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

// refusal is a request the app must refuse, and how.
type refusal struct {
	what   string
	method string
	body   string
	status int
	error  string
}

var refusals = []refusal{
	{"a body that is not JSON", "POST", `three teas please`, 400, "invalid body"},
	{"a JSON list instead of an object", "POST", `[]`, 400, "invalid body"},
	{"an empty cart", "POST", `{"items":[]}`, 400, "items must be a non-empty list"},
	{"a cart without items", "POST", `{"region":"EU"}`, 400, "items must be a non-empty list"},
	{"a quantity of 0", "POST", `{"items":[{"sku":"TEA-GREEN","qty":0}]}`, 400, "qty must be an integer from 1 to 999"},
	{"a fractional quantity", "POST", `{"items":[{"sku":"TEA-GREEN","qty":2.5}]}`, 400, "invalid body"},
	{"a quantity given as a string", "POST", `{"items":[{"sku":"TEA-GREEN","qty":"2"}]}`, 400, "invalid body"},
	{"a product repeated to 1200 units", "POST", `{"items":[{"sku":"TEA-GREEN","qty":600},{"sku":"TEA-GREEN","qty":600}]}`, 400, "qty must be an integer from 1 to 999"},
	{"an unknown tier", "POST", `{"items":[{"sku":"TEA-GREEN","qty":1}],"tier":"platinum"}`, 400, "tier must be standard or gold"},
	{"an unknown product", "POST", `{"items":[{"sku":"TEA-GREEN","qty":1},{"sku":"COFFEE","qty":1}]}`, 422, "unknown sku: COFFEE"},
	{"an unknown product with a bad quantity", "POST", `{"items":[{"sku":"COFFEE","qty":1},{"sku":"TEA-GREEN","qty":1000}]}`, 400, "qty must be an integer from 1 to 999"},
	{"an unsupported region", "POST", `{"items":[{"sku":"TEA-GREEN","qty":1}],"region":"FR"}`, 422, "unsupported region: FR"},
	{"an unknown coupon", "POST", `{"items":[{"sku":"TEA-GREEN","qty":1}],"coupon":" half-off "}`, 422, "unknown coupon: HALF-OFF"},
	{"a GET", "GET", ``, 405, "method not allowed"},
	{"an OPTIONS", "OPTIONS", ``, 405, "method not allowed"},
	{"a HEAD (a GET without the body)", "HEAD", ``, 405, ""},
	{"a PUT", "PUT", `{"items":[{"sku":"TEA-GREEN","qty":1}]}`, 405, "method not allowed"},
	{"a DELETE", "DELETE", ``, 405, "method not allowed"},
	{"a PATCH", "PATCH", `{"items":[{"sku":"TEA-GREEN","qty":1}]}`, 405, "method not allowed"},
}

func validation(ctx context.Context, h *scenarios.Harness) error {
	for _, c := range refusals {
		req := scenarios.Request{Method: c.method, Path: "/api/quote"}
		if c.body != "" {
			req.Body = []byte(c.body)
		}
		r := h.Do(ctx, req)
		expected := fmt.Sprintf(`%d {"error": %q} for %s`, c.status, c.error, c.what)
		if c.method == http.MethodHead {
			expected = fmt.Sprintf("%d for %s", c.status, c.what)
		}
		hint := "A refactor keeps every error's status, message and precedence: all 400 checks (body, items, quantities, tier) come before the 422 ones (products, region, coupon)."
		if c.status == http.StatusMethodNotAllowed {
			hint = `Every method but POST on /api/quote answers 405 {"error": "method not allowed"}.`
			if r.Status == http.StatusNotImplemented {
				hint += " A 501 is what a server answers for a method the app has no handler for: add one."
			}
		}
		if r.Err != nil || r.Status != c.status {
			return scenarios.Failf(expected, hint, "%s", r.Describe())
		}
		if c.method == http.MethodHead { // no body to hold: the status above and the Content-Type
			if d := contentTypeDiff(r); d != "" {
				return scenarios.Failf(expected, hint, "%s", d)
			}
			continue
		}
		var body map[string]any
		if json.Unmarshal(r.Body, &body) != nil || body["error"] != c.error || len(body) != 1 {
			return scenarios.Failf(expected, hint, "%s", strings.TrimSpace(r.Describe()))
		}
		if d := contentTypeDiff(r); d != "" {
			return scenarios.Failf(expected, "Every answer, quotes and errors alike, is sent with Content-Type: application/json.", "%s", d)
		}
	}
	return nil
}

// SeededCartsForTest returns the hidden scenario's carts, for the test that they are fixed.
func SeededCartsForTest() []Cart { return seeded() }
