package refactororderpricing

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
)

// app is a fake quote service in-process: it decodes a cart as the Go starter does and answers
// with price's status and body. The boundary scenario runs against it exactly as against a
// container; only the transport is local.
func app(price func(Cart) (int, any)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		send := func(status int, body any) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(body)
		}
		if r.Method != http.MethodPost {
			send(405, map[string]string{"error": "method not allowed"})
			return
		}
		var c Cart
		dec := json.NewDecoder(r.Body)
		if err := dec.Decode(&c); err != nil || dec.More() {
			send(400, map[string]string{"error": "invalid body"})
			return
		}
		send(price(c))
	})
}

// target is the sandbox as the harness sees it, with only the app's URL.
type target struct{ url string }

func (t target) AppURL() string                                      { return t.url }
func (t target) AppURLs() []string                                   { return []string{t.url} }
func (target) Kill(context.Context, scenarios.Service, string) error { return errNoSandbox }
func (target) Start(context.Context, scenarios.Service) error        { return errNoSandbox }
func (target) Pause(context.Context, scenarios.Service) error        { return errNoSandbox }
func (target) Unpause(context.Context, scenarios.Service) error      { return errNoSandbox }
func (target) Wait(context.Context, scenarios.Service) (int, error)  { return 0, errNoSandbox }
func (target) Logs(context.Context, scenarios.Service, time.Time, int) (string, error) {
	return "", errNoSandbox
}

var errNoSandbox = errors.New("no sandbox in this test")

// asBrief answers as the brief (the oracle) does.
func asBrief(c Cart) (int, any) {
	q, refusal := Price(c)
	if refusal != nil {
		return refusal.Status, map[string]string{"error": refusal.Message}
	}
	return 200, q
}

// The behaviour changes issue 12 found judged "No behaviour changed", and others; each is a
// price function a refactor could honestly end up with.
var changes = map[string]func(Cart) (int, any){
	// VAT rounded on goods and on shipping apart, then added.
	"vat per component": func(c Cart) (int, any) {
		status, body := asBrief(c)
		q, ok := body.(Quote)
		if !ok {
			return status, body
		}
		var discountable int64
		for _, l := range q.Lines {
			if l.SKU != "GIFT-25" {
				discountable += l.Total
			}
		}
		region := c.Region
		if region == "" {
			region = "EU"
		}
		v := Regions[region].VATBasisPts
		goods := discountable - q.Discount
		q.Total -= q.Tax
		q.Tax = roundDiv(goods*v, 10000) + roundDiv(q.Shipping*v, 10000)
		q.Total += q.Tax
		return status, q
	},
	// A repeated product merged into the position where it last appears.
	"tie takes the last position": func(c Cart) (int, any) {
		if _, refusal := Price(c); refusal != nil {
			return asBrief(c)
		}
		var merged Cart = c
		merged.Items = nil
		for i, it := range c.Items {
			if slices.ContainsFunc(c.Items[i+1:], func(o Item) bool { return o.SKU == it.SKU }) {
				continue
			}
			total := 0
			for _, o := range c.Items {
				if o.SKU == it.SKU {
					total += o.Qty
				}
			}
			merged.Items = append(merged.Items, Item{it.SKU, total})
		}
		return asBrief(merged)
	},
	// Quantities checked only once lines are merged.
	"quantity checked after merging": func(c Cart) (int, any) {
		merged := c
		merged.Items = nil
		at := map[string]int{}
		for _, it := range c.Items {
			if i, ok := at[it.SKU]; ok {
				merged.Items[i].Qty += it.Qty
				continue
			}
			at[it.SKU] = len(merged.Items)
			merged.Items = append(merged.Items, it)
		}
		return asBrief(merged)
	},
	// A field added to every quote.
	"added field": func(c Cart) (int, any) {
		status, body := asBrief(c)
		if q, ok := body.(Quote); ok {
			m := toJSON(q).(map[string]any)
			m["vat_included"] = true
			return status, m
		}
		return status, body
	},
	// Equal totals ordered by SKU.
	"ties by sku": func(c Cart) (int, any) {
		status, body := asBrief(c)
		if q, ok := body.(Quote); ok {
			slices.SortStableFunc(q.Lines, func(a, b Line) int {
				if a.Total != b.Total {
					return int(b.Total - a.Total)
				}
				return strings.Compare(a.SKU, b.SKU)
			})
			return status, q
		}
		return status, body
	},
}

func harness(t *testing.T, price func(Cart) (int, any)) *scenarios.Harness {
	srv := httptest.NewServer(app(price))
	t.Cleanup(srv.Close)
	return scenarios.NewHarness(target{srv.URL}, nil, "", "")
}

// TestBoundaryPassesTheBrief: an app that answers as the brief does passes; the scenario
// compares whole answers and is not satisfied by less.
func TestBoundaryPassesTheBrief(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	if err := boundary(ctx, harness(t, asBrief)); err != nil {
		t.Fatal(err)
	}
	n := len(Generate(GeneratorSeed))
	t.Logf("%d requests in %s against an in-process app (%.0f a second)", n, time.Since(start).Round(time.Millisecond), float64(n)/time.Since(start).Seconds())
}

// TestBoundaryFindsEveryChange: each behaviour change is found, and the request reported is
// 1-minimal: no one-step smaller request still shows a difference.
func TestBoundaryFindsEveryChange(t *testing.T) {
	for name, price := range changes {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			h := harness(t, price)
			err := boundary(ctx, h)
			f, ok := scenarios.AsFailure(err)
			if !ok {
				t.Fatalf("boundary returned %v; want a failure naming the smallest request that changed", err)
			}
			t.Logf("expected %s\nactual %s\nhint %s", f.Expected, f.Actual, f.Hint)
			body := f.Actual[strings.Index(f.Actual, "POST /api/quote ")+len("POST /api/quote "):]
			body = body[:strings.Index(body, "; the smallest")]
			var p Probe
			if err := json.Unmarshal([]byte(body), &p.Cart); err != nil {
				t.Fatalf("the smallest request is not a cart (%s): every change here is shown by a well-typed one", body)
			}
			if string(p.Body()) != body {
				t.Fatalf("reported body %s does not round-trip as a cart", body)
			}
			if answerDiff(ctx, h, p) == "" {
				t.Fatalf("the reported request %s shows no difference", body)
			}
			for _, c := range smaller(p) {
				if c.size() < p.size() && answerDiff(ctx, h, c) != "" {
					t.Errorf("%s still differs and is smaller than the reported %s", c.Body(), body)
				}
			}
		})
	}
}

// TestGenerateAimsAtTheBoundaries: the probes are the same on every call and land on every
// boundary the brief draws, in numbers: each error row, each wrong type, each rounding window,
// each threshold ±1, ties a repeated product straddles, merges that hide or cross the limit.
func TestGenerateAimsAtTheBoundaries(t *testing.T) {
	probes := Generate(GeneratorSeed)
	again := Generate(GeneratorSeed)
	if len(probes) < 2000 || len(again) != len(probes) {
		t.Fatalf("%d and %d probes; want the same 2000 or more on every call", len(probes), len(again))
	}
	count := map[string]int{}
	for i, p := range probes {
		if string(p.Body()) != string(again[i].Body()) {
			t.Fatalf("probe %d is %s, then %s", i, p.Body(), again[i].Body())
		}
		if p.Fault != "" {
			count["fault "+p.Fault]++
			if slices.Contains(itemFaults, p.Fault) && len(p.Cart.Items) > 1 && (p.Cart.Items[0].Qty < 1 || p.Cart.Items[0].Qty > 999) {
				count["a quantity out of range before a wrong-typed item"]++
			}
		}
		for _, it := range p.Cart.Items {
			if slices.Contains(ObjectKeys, it.SKU) {
				count["an object key as a product"]++
			}
		}
		if slices.Contains(ObjectKeys, p.Cart.Region) {
			count["an object key as a region"]++
		}
		if slices.Contains(ObjectKeys, p.Cart.Tier) {
			count["an object key as a tier"]++
		}
		if n := len(p.Cart.Items); n >= 2 {
			if _, err := strconv.Atoi(p.Cart.Items[n-1].SKU); err == nil {
				if _, known := product(p.Cart.Items[n-2].SKU); !known {
					count["an unknown product, then one named by digits"]++
				}
			}
		}
		status, body := p.Want()
		if status != 200 {
			msg := body.(map[string]any)["error"].(string)
			count[strings.SplitN(msg, ":", 2)[0]]++
			if hidesOutOfRange(p.Cart) {
				count["a quantity out of range merged into 1–999"]++
			}
			continue
		}
		q, _ := Price(p.Cart)
		for _, b := range boundaries(p.Cart, q) {
			count[b]++
		}
		if straddlesTie(p.Cart, q) {
			count["a repeated product around a line it ties"]++
		}
		if mergedTo(p.Cart, 990) {
			count["a merged line of 990 to 999"]++
		}
	}
	want := map[string]int{
		"invalid body": 100, "items must be a non-empty list": 50, "qty must be an integer from 1 to 999": 100,
		"tier must be standard or gold": 30, "unknown sku": 30, "unsupported region": 15, "unknown coupon": 15,
		"a quantity out of range merged into 1–999": 50, "a repeated product around a line it ties": 50, "a merged line of 990 to 999": 30,
		"CH VAT half a cent": 10, "CH VAT on goods and shipping rounded apart differs": 10, "CH VAT within a cent of half": 10,
		"EU VAT within a cent of half": 10, "UK VAT within a cent of half": 10, "CH VAT per line differs": 10,
		"line discount half a cent": 10, "gold half a cent": 10, "WELCOME10 half a cent": 10,
		"WELCOME10 threshold -1": 5, "WELCOME10 threshold +1": 5, "TEA5 with 2 teas": 10, "TEA5 with 3 teas": 10,
		"weight 1000 g": 10, "weight on a 500 g step": 10, "weight just past a 500 g step": 10,
		"gift cards only": 10, "lines with equal totals": 100,
	}
	for _, r := range []string{"EU", "UK", "US", "CH"} {
		for _, s := range []string{"-1", "+0", "+1"} {
			want[r+" free shipping "+s] = 5
		}
	}
	for _, f := range faultNames {
		want["fault "+f] = 3
	}
	for f := range nulls {
		want["fault "+f] = 15
	}
	for f := range empties {
		want["fault "+f] = 15
	}
	for _, k := range []string{"product", "region", "tier"} {
		want["an object key as a "+k] = 10
	}
	want["an unknown product, then one named by digits"] = 10
	want["a quantity out of range before a wrong-typed item"] = 30
	for k, n := range want {
		if count[k] < n {
			t.Errorf("%d probes on %q; want at least %d", count[k], k, n)
		}
	}
}

// hidesOutOfRange: some entry is outside 1–999 but every product's merged quantity is inside.
func hidesOutOfRange(c Cart) bool {
	out := false
	sums := map[string]int{}
	for _, it := range c.Items {
		out = out || it.Qty < 1 || it.Qty > 999
		sums[it.SKU] += it.Qty
	}
	for _, s := range sums {
		if s < 1 || s > 999 {
			return false
		}
	}
	return out
}

// straddlesTie: a product asked for twice, with another product between its first and last
// entries whose line total equals the repeated product's merged total.
func straddlesTie(c Cart, q Quote) bool {
	total := map[string]int64{}
	for _, l := range q.Lines {
		total[l.SKU] = l.Total
	}
	for i, it := range c.Items {
		for j := len(c.Items) - 1; j > i+1; j-- {
			if c.Items[j].SKU != it.SKU {
				continue
			}
			for _, mid := range c.Items[i+1 : j] {
				if mid.SKU != it.SKU && total[mid.SKU] == total[it.SKU] {
					return true
				}
			}
		}
	}
	return false
}

// mergedTo: a product asked for more than once whose merged quantity is from least to 999.
func mergedTo(c Cart, least int) bool {
	sums, entries := map[string]int{}, map[string]int{}
	for _, it := range c.Items {
		sums[it.SKU] += it.Qty
		entries[it.SKU]++
	}
	for sku, s := range sums {
		if entries[sku] > 1 && s >= least && s <= 999 {
			return true
		}
	}
	return false
}

// unmerged answers with one line per entry of the cart, ordered by total: a repeated product
// is not merged.
func unmerged(c Cart) (int, any) {
	status, body := asBrief(c)
	q, ok := body.(Quote)
	if !ok {
		return status, body
	}
	q.Lines = nil
	for _, it := range c.Items {
		one, _ := Price(Cart{Items: []Item{it}, Region: c.Region})
		q.Lines = append(q.Lines, one.Lines[0])
	}
	slices.SortStableFunc(q.Lines, func(a, b Line) int { return int(b.Total - a.Total) })
	return status, q
}

// TestBoundaryHintNamesTheMistake: the hint the smallest difference gets points at the rule the
// change broke, not at a neighbouring one.
func TestBoundaryHintNamesTheMistake(t *testing.T) {
	for _, c := range []struct {
		name  string
		price func(Cart) (int, any)
		hint  string
	}{
		{"repeated products not merged", unmerged, "merged into one line"},
		{"tie takes the last position", changes["tie takes the last position"], "keeps its first position"},
		{"vat per component", changes["vat per component"], "look at VAT"},
		{"added field", changes["added field"], "exactly the contract's fields"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			f, ok := scenarios.AsFailure(boundary(ctx, harness(t, c.price)))
			if !ok {
				t.Fatal("boundary passed; want a failure")
			}
			if !strings.Contains(f.Hint, c.hint) {
				t.Errorf("actual %s\nhint %q; want it to say %q", f.Actual, f.Hint, c.hint)
			}
		})
	}
}

// cartOf reads a body back into a Cart, as the Go starter decodes it.
func cartOf(b map[string]any) Cart {
	var c Cart
	raw, _ := json.Marshal(b)
	_ = json.Unmarshal(raw, &c)
	return c
}

// TestBoundaryFindsJavaScriptSlips: two behaviour changes an honest TypeScript refactor makes,
// which a Go handler decoding a Cart cannot show, so each is a handler of its own on the raw
// body: a default taken with ?? (an optional field sent as "" is then a value, not left out,
// P4), and a lookup in a plain object (a product, region or tier named like one of its keys
// is then known, P24–P26). Each must be found, and the reported request must show it.
func TestBoundaryFindsJavaScriptSlips(t *testing.T) {
	brief := app(asBrief)
	for _, c := range []struct {
		name  string
		slips func(body map[string]any) (int, any, bool) // the changed answer, if the body shows the slip
		shows []string                                   // the reported request holds one of these
	}{
		{"region ?? \"EU\"", func(b map[string]any) (int, any, bool) {
			if r, ok := b["region"]; ok && r == "" {
				return 422, map[string]string{"error": "unsupported region: "}, true
			}
			return 0, nil, false
		}, []string{`"region":""`}},
		{"tier ?? \"standard\"", func(b map[string]any) (int, any, bool) {
			if r, ok := b["tier"]; ok && r == "" {
				return 400, map[string]string{"error": "tier must be standard or gold"}, true
			}
			return 0, nil, false
		}, []string{`"tier":""`}},
		{"sku in CATALOG", func(b map[string]any) (int, any, bool) {
			items, _ := b["items"].([]any)
			for _, it := range items {
				if m, ok := it.(map[string]any); ok && slices.Contains(ObjectKeys, fmt.Sprint(m["sku"])) {
					return 500, map[string]string{"error": "internal error"}, true // price of undefined
				}
			}
			return 0, nil, false
		}, ObjectKeys},
		{"lines merged in an object literal", func(b map[string]any) (int, any, bool) {
			// Object.keys lists integer-like keys first, ascending: the first unknown product
			// reported is then one named by digits.
			items, _ := b["items"].([]any)
			var digits []int
			hasUnknown := false
			for _, it := range items {
				m, ok := it.(map[string]any)
				if !ok {
					return 0, nil, false
				}
				sku, _ := m["sku"].(string)
				if n, err := strconv.Atoi(sku); err == nil && n >= 0 && strconv.Itoa(n) == sku {
					digits = append(digits, n)
				} else if _, known := product(sku); !known {
					hasUnknown = true
				}
			}
			if status, _ := asBrief(cartOf(b)); len(digits) == 0 || !hasUnknown || status != 422 {
				return 0, nil, false
			}
			return 422, map[string]string{"error": "unknown sku: " + strconv.Itoa(slices.Min(digits))}, true
		}, []string{`"sku":"1`, `"sku":"2`, `"sku":"3`, `"sku":"4`, `"sku":"5`, `"sku":"6`, `"sku":"7`, `"sku":"8`, `"sku":"9`}},
		{"REGIONS[region]", func(b map[string]any) (int, any, bool) {
			if r, ok := b["region"].(string); ok && slices.Contains(ObjectKeys, r) {
				return 500, map[string]string{"error": "internal error"}, true
			}
			return 0, nil, false
		}, ObjectKeys},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				raw, _ := io.ReadAll(r.Body)
				var b map[string]any
				if json.Unmarshal(raw, &b) == nil {
					if status, body, ok := c.slips(b); ok {
						w.Header().Set("Content-Type", "application/json")
						w.WriteHeader(status)
						_ = json.NewEncoder(w).Encode(body)
						return
					}
				}
				r.Body = io.NopCloser(bytes.NewReader(raw))
				brief.ServeHTTP(w, r)
			}))
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			f, ok := scenarios.AsFailure(boundary(ctx, scenarios.NewHarness(target{srv.URL}, nil, "", "")))
			if !ok {
				t.Fatal("boundary passed; want a failure naming a request that shows the slip")
			}
			t.Logf("expected %s\nactual %s\nhint %s", f.Expected, f.Actual, f.Hint)
			if !slices.ContainsFunc(c.shows, func(s string) bool { return strings.Contains(f.Actual, s) }) {
				t.Errorf("the reported request does not show the slip (any of %q): %s", c.shows, f.Actual)
			}
		})
	}
}
