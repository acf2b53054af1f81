package refactororderpricing

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/holdfast-ci/holdfast/scenarios"
)

// GeneratorSeed draws the boundary scenario's requests: fixed, so that a base and a head get the
// same ones and a learner can draw them again (Generate(GeneratorSeed)).
const GeneratorSeed = 20261206

// Probe is one request of the boundary scenario: a cart, sent as JSON, with at most one field
// given the wrong type (Fault names it; "" sends the cart as it is).
type Probe struct {
	Cart  Cart
	Fault string
}

// faults are the wrong-typed bodies of the brief's first error row. Each keeps the rest of the
// cart, so a shrunk probe still shows which field was wrong. Every one is a body the starters
// refuse with 400 "invalid body"; bodies the starters disagree on (a null item, a null body, an
// integer too large for 64 bits, keys in another case) are left out: the brief does not say.
var faults = map[string]func(body map[string]any) any{
	"qty 2.5":  func(b map[string]any) any { return withLastItem(b, "qty", 2.5) },
	`qty "2"`:  func(b map[string]any) any { return withLastItem(b, "qty", "2") },
	"qty 3.0":  func(b map[string]any) any { return withLastItem(b, "qty", json.Number("3.0")) },
	"qty 1e2":  func(b map[string]any) any { return withLastItem(b, "qty", json.Number("1e2")) },
	"qty true": func(b map[string]any) any { return withLastItem(b, "qty", true) },
	"sku 5":    func(b map[string]any) any { return withLastItem(b, "sku", 5) },
	"item 5":   func(b map[string]any) any { return withItems(b, func(items []any) { items[len(items)-1] = 5 }) },
	"item list": func(b map[string]any) any {
		return withItems(b, func(items []any) { items[0] = []any{"TEA-GREEN", 1} })
	},
	"items object":  func(b map[string]any) any { b["items"] = map[string]any{"sku": "TEA-GREEN", "qty": 1}; return b },
	"items string":  func(b map[string]any) any { b["items"] = "TEA-GREEN"; return b },
	"region 1":      func(b map[string]any) any { b["region"] = 1; return b },
	"coupon list":   func(b map[string]any) any { b["coupon"] = []any{"TEA5"}; return b },
	"tier true":     func(b map[string]any) any { b["tier"] = true; return b },
	"body list":     func(b map[string]any) any { return []any{b} },
	"body string":   func(b map[string]any) any { return "three teas" },
	"body number":   func(b map[string]any) any { return 3 },
	"trailing data": nil, // rendered by Body: the JSON object, then a second one
}

// nulls are the optional fields sent as JSON null, which the brief counts as left out (P4):
// every starter quotes them as if absent, and a refactor that calls a method on the value
// does not.
var nulls = map[string]string{"coupon null": "coupon", "region null": "region", "tier null": "tier"}

// empties are the optional fields sent as "", which the brief counts as left out too (P4). A
// Cart never sends them (its fields are omitempty), so they are faults of their own: a
// TypeScript refactor that defaults with ?? instead of || takes "" for a region or a tier.
var empties = map[string]string{`coupon ""`: "coupon", `region ""`: "region", `tier ""`: "tier"}

// leftOut is the optional field a null or empty fault sends, and the value it sends.
func leftOut(fault string) (field string, value any, ok bool) {
	if f, ok := nulls[fault]; ok {
		return f, nil, true
	}
	if f, ok := empties[fault]; ok {
		return f, "", true
	}
	return "", nil, false
}

// ObjectKeys are names every plain JavaScript object answers to. A TypeScript refactor that
// looks a product, region or tier up in an object literal (`sku in CATALOG`, `REGIONS[r]`)
// finds them, where the brief refuses them as unknown (P24–P26).
var ObjectKeys = []string{"constructor", "__proto__", "toString", "hasOwnProperty", "valueOf"}

// itemFaults are the faults that sit in the last item, for the precedence probes.
var itemFaults = []string{"qty 2.5", `qty "2"`, "qty true", "sku 5", "item 5"}

func withItems(b map[string]any, edit func([]any)) any {
	if items, ok := b["items"].([]any); ok && len(items) > 0 {
		edit(items)
	}
	return b
}

func withLastItem(b map[string]any, key string, v any) any {
	return withItems(b, func(items []any) {
		if it, ok := items[len(items)-1].(map[string]any); ok {
			it[key] = v
		}
	})
}

// Body is the request body a probe sends.
func (p Probe) Body() []byte {
	cart := scenarios.JSON(p.Cart)
	if p.Fault == "" {
		return cart
	}
	if p.Fault == "trailing data" {
		return append(cart, []byte(` {"items":[]}`)...)
	}
	var m map[string]any
	_ = json.Unmarshal(cart, &m)
	if field, value, ok := leftOut(p.Fault); ok {
		m[field] = value
		return scenarios.JSON(m)
	}
	return scenarios.JSON(faults[p.Fault](m)) // faults only build plain JSON values
}

// Want is the answer the brief gives for a probe: its status and its JSON body.
func (p Probe) Want() (int, any) {
	c := p.Cart
	field, _, _ := leftOut(p.Fault)
	switch field {
	case "coupon":
		c.Coupon = ""
	case "region":
		c.Region = ""
	case "tier":
		c.Tier = ""
	case "":
		if p.Fault != "" {
			return 400, map[string]any{"error": "invalid body"}
		}
	}
	q, refusal := Price(c)
	if refusal != nil {
		return refusal.Status, map[string]any{"error": refusal.Message}
	}
	return 200, toJSON(q)
}

// size orders probes for shrinking: fewer items first, then smaller quantities, then fewer
// optional fields.
func (p Probe) size() int {
	n := len(p.Cart.Items) * 100000
	for _, it := range p.Cart.Items {
		n += 10 * max(it.Qty, -it.Qty)
	}
	for _, s := range []string{p.Cart.Region, p.Cart.Coupon, p.Cart.Tier} {
		if s != "" {
			n += 3 + len(s)
		}
	}
	return n
}

// describe names a probe for a learner: the cart, and the wrong-typed field if any.
func (p Probe) describe() string {
	if p.Fault != "" {
		return fmt.Sprintf("%s with %s", p.Cart.describe(), p.Fault)
	}
	return p.Cart.describe()
}

// Generate draws the boundary scenario's probes from seed. They aim where a refactor slips:
// every rounding window (half a cent, and the carts where rounding goods and shipping apart
// differs from rounding their sum), lines with equal totals (including a repeated product whose
// first and last positions straddle its tie), merges whose parts or total cross the quantity
// limits, every limit ±1, every error row alone and several at once (precedence), wrong types,
// and plain random carts, shuffled together. The same seed always gives the same probes, in the
// same order.
func Generate(seed uint64) []Probe {
	r := rand.New(rand.NewPCG(seed, 0x7ea))
	g := gen{r: r}
	var out []Probe
	add := func(cs ...Cart) {
		for _, c := range cs {
			out = append(out, Probe{Cart: c})
		}
	}
	add(g.ties(300)...)
	add(g.merges(250)...)
	add(g.limits(200)...)
	add(g.errors(300)...)
	for range 150 {
		c := g.random()
		if r.IntN(3) == 0 {
			c = g.withErrors(c)
		}
		if len(c.Items) == 0 {
			c.Items = []Item{{g.sku(), g.qty()}} // the fault needs an item to sit in
		}
		out = append(out, Probe{Cart: c, Fault: faultNames[r.IntN(len(faultNames))]})
	}
	// Precedence across items: a quantity out of range in the first item, a wrong type in the
	// last. The wrong type wins ("invalid body" comes first): a refactor that checks each
	// item's type and range in one pass answers the quantity instead.
	for range 40 {
		c := g.random()
		c.Items = append([]Item{{g.sku(), []int{0, -1, 1000}[r.IntN(3)]}}, c.Items...)
		if len(c.Items) < 2 {
			c.Items = append(c.Items, Item{g.sku(), g.qty()})
		}
		out = append(out, Probe{Cart: c, Fault: itemFaults[r.IntN(len(itemFaults))]})
	}
	// Optional fields sent as null: quoted as if left out.
	for i := range 60 {
		c := g.random()
		if len(c.Items) == 0 {
			c.Items = []Item{{g.sku(), g.qty()}}
		}
		out = append(out, Probe{Cart: c, Fault: slices.Sorted(maps.Keys(nulls))[i%len(nulls)]})
	}
	add(g.windows(12)...)
	for range 470 {
		add(g.random())
	}
	// Mixed, so that each batch the scenario sends holds every kind of probe.
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return withJavaScriptSlips(seed, out)
}

// withJavaScriptSlips adds the probes for what TypeScript refactors slip on (issue 17): 45
// carts with an optional field sent as "" and 30 with a product, region or tier named like a
// key of every JavaScript object (ObjectKeys), and 10 with two unknown products, the second
// named by digits (an object literal lists such keys first, so lines merged in one report the
// second). They are drawn from a stream of their own and put at random places among probes,
// so that the probes drawn before them stay the same, in the same order.
func withJavaScriptSlips(seed uint64, probes []Probe) []Probe {
	r := rand.New(rand.NewPCG(seed, 0x7eb))
	g := gen{r: r}
	emptyNames := slices.Sorted(maps.Keys(empties))
	var slips []Probe
	for i := range 45 {
		slips = append(slips, Probe{Cart: g.random(), Fault: emptyNames[i%len(emptyNames)]})
	}
	for i := range 30 {
		c, key := g.random(), ObjectKeys[i%len(ObjectKeys)]
		switch i % 3 {
		case 0:
			c = g.insert(c, Item{key, 1 + r.IntN(3)})
		case 1:
			c.Region = key
		default:
			c.Tier = key
		}
		slips = append(slips, Probe{Cart: c})
	}
	for range 10 {
		c := g.random()
		c.Items = append(c.Items, Item{g.pick([]string{"COFFEE", "GIFT-50", "tea-green"}), 1 + r.IntN(3)}, Item{strconv.Itoa(100 + r.IntN(900)), 1})
		slips = append(slips, Probe{Cart: c})
	}
	for _, p := range slips {
		probes = slices.Insert(probes, r.IntN(len(probes)+1), p)
	}
	return probes
}

// faultNames are the faults in a fixed order, for drawing one.
var faultNames = slices.Sorted(maps.Keys(faults))

type gen struct{ r *rand.Rand }

var (
	regionCodes  = []string{"EU", "UK", "US", "CH", ""}
	validCoupons = []string{"", "", "WELCOME10", " welcome10 ", "TEA5", "tea5", "FREESHIP", "FreeShip\t"}
	validTiers   = []string{"", "standard", "gold"}
	badTiers     = []string{"platinum", "Gold", "GOLD", " gold", "silver"}
	badSKUs      = []string{"COFFEE", "tea-green", "TEA-GREEN ", "", "GIFT-50"}
	badRegions   = []string{"FR", "eu", "DE", "ch", " EU"}
	badCoupons   = []string{"half-off", "WELCOME", "TEA50", " free ship ", "WELCOME 10"}
)

func (g gen) pick(list []string) string { return list[g.r.IntN(len(list))] }

func (g gen) sku() string { return Catalog[g.r.IntN(len(Catalog))].SKU }

// qty draws a quantity: mostly small, often at a volume band's edge.
func (g gen) qty() int {
	switch g.r.IntN(8) {
	case 0:
		return 8 + g.r.IntN(5)
	case 1:
		return 48 + g.r.IntN(5)
	case 2:
		return 1 + g.r.IntN(120)
	}
	return 1 + g.r.IntN(6)
}

// dress gives a cart a random region, coupon and tier the brief accepts.
func (g gen) dress(c Cart) Cart {
	c.Region, c.Coupon, c.Tier = g.pick(regionCodes), g.pick(validCoupons), g.pick(validTiers)
	return c
}

// random is a cart of 1 to 4 lines, products repeated as often as chance has it.
func (g gen) random() Cart {
	var c Cart
	for range 1 + g.r.IntN(4) {
		c.Items = append(c.Items, Item{g.sku(), g.qty()})
	}
	return g.dress(c)
}

// insert puts it at a random position of c's items.
func (g gen) insert(c Cart, it Item) Cart {
	i := g.r.IntN(len(c.Items) + 1)
	c.Items = slices.Insert(slices.Clone(c.Items), i, it)
	return c
}

// lineTotal is a line's total as step 1 of the brief computes it.
func lineTotal(p Product, qty int) int64 {
	gross := p.Price * int64(qty)
	if p.Category == "gift" {
		return gross
	}
	switch {
	case qty >= 50:
		return gross - roundDiv(gross*10, 100)
	case qty >= 10:
		return gross - roundDiv(gross*5, 100)
	}
	return gross
}

// tie is two lines of different products with the same total.
type tie struct{ a, b Item }

// tiePairs lists every pair of (product, quantity) lines from 1 to 999 units with equal totals,
// in a fixed order.
func tiePairs() []tie {
	byTotal := map[int64][]Item{}
	for _, p := range Catalog {
		for q := 1; q <= 999; q++ {
			t := lineTotal(p, q)
			byTotal[t] = append(byTotal[t], Item{p.SKU, q})
		}
	}
	totals := make([]int64, 0, len(byTotal))
	for t := range byTotal {
		totals = append(totals, t)
	}
	slices.Sort(totals)
	var out []tie
	for _, t := range totals {
		lines := byTotal[t]
		for i := range lines {
			for j := i + 1; j < len(lines); j++ {
				if lines[i].SKU != lines[j].SKU {
					out = append(out, tie{lines[i], lines[j]})
				}
			}
		}
	}
	return out
}

// ties draws n carts whose lines tie: a product split over two or three entries around or
// beside another product with the same total, so its first and its last position order the
// tie differently; sometimes with a third product, sometimes without any repeat.
func (g gen) ties(n int) []Cart {
	pairs := tiePairs()
	out := make([]Cart, 0, n)
	for len(out) < n {
		t := pairs[g.r.IntN(1+g.r.IntN(len(pairs)))] // pairs go by total: favour small carts
		x, y := t.a, t.b
		if g.r.IntN(2) == 0 {
			x, y = y, x
		}
		var c Cart
		switch {
		case x.Qty < 2 || g.r.IntN(6) == 0: // no repeat: the order asked for decides
			c.Items = []Item{x, y}
		default:
			q1 := 1 + g.r.IntN(x.Qty-1)
			first, last := Item{x.SKU, q1}, Item{x.SKU, x.Qty - q1}
			switch g.r.IntN(4) {
			case 0, 1:
				c.Items = []Item{first, y, last}
			case 2:
				c.Items = []Item{first, last, y}
			default:
				c.Items = []Item{y, first, last}
			}
		}
		if g.r.IntN(3) == 0 {
			c = g.insert(c, Item{g.sku(), g.qty()})
		}
		out = append(out, g.dress(c))
	}
	return out
}

// merges draws n carts with a product repeated: parts whose sum sits at 999 ± 2, and an
// out-of-range part (0, negative, 1000 and more) merged with others into a total inside or
// outside 1–999.
func (g gen) merges(n int) []Cart {
	out := make([]Cart, 0, n)
	for len(out) < n {
		sku := g.sku()
		var parts []int
		switch g.r.IntN(3) {
		case 0: // parts in range, total at the limit
			total := 997 + g.r.IntN(5)
			a := 1 + g.r.IntN(total-1)
			parts = []int{a, total - a}
			if b := parts[1]; b > 2 && g.r.IntN(3) == 0 {
				c := 1 + g.r.IntN(b-1)
				parts = []int{a, c, b - c}
			}
		case 1: // a part of 0 or less, total in range
			bad := -g.r.IntN(4)
			parts = []int{bad, 1 + g.r.IntN(12)}
		default: // a part above 999, brought back by a negative one
			over := 1000 + g.r.IntN(3)
			parts = []int{over, -(1 + g.r.IntN(4))}
		}
		g.r.Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })
		var c Cart
		for _, q := range parts {
			c.Items = append(c.Items, Item{sku, q})
		}
		if g.r.IntN(2) == 0 {
			other := g.sku()
			if other != sku {
				c.Items = slices.Insert(c.Items, 1, Item{other, 1 + g.r.IntN(5)})
			}
		}
		out = append(out, g.dress(c))
	}
	return out
}

var limitQtys = []int{-1, 0, 1, 2, 9, 10, 11, 49, 50, 51, 998, 999, 1000, 1001}

// limits draws n carts of distinct products whose quantities sit on the brief's limits ±1
// (1–999 and the volume bands at 10 and 50).
func (g gen) limits(n int) []Cart {
	out := make([]Cart, 0, n)
	for len(out) < n {
		var c Cart
		for _, i := range g.r.Perm(len(Catalog))[:1+g.r.IntN(3)] {
			q := limitQtys[g.r.IntN(len(limitQtys))]
			if g.r.IntN(3) > 0 {
				q = limitQtys[2+g.r.IntN(len(limitQtys)-4)] // mostly valid ones
			}
			c.Items = append(c.Items, Item{Catalog[i].SKU, q})
		}
		out = append(out, g.dress(c))
	}
	return out
}

// errors draws n carts that break one or several of the error rows at once, so the precedence
// between rows is held too.
func (g gen) errors(n int) []Cart {
	out := make([]Cart, 0, n)
	for len(out) < n {
		out = append(out, g.withErrors(g.random()))
	}
	return out
}

// withErrors breaks 1 to 3 of the brief's error rows in c.
func (g gen) withErrors(c Cart) Cart {
	rows := g.r.Perm(7)[:1+g.r.IntN(3)]
	for _, row := range rows {
		switch row {
		case 0: // items missing or empty
			if g.r.IntN(2) == 0 {
				c.Items = nil
			} else {
				c.Items = []Item{}
			}
		case 1: // a quantity out of range as sent
			c = g.insert(c, Item{g.sku(), limitQtys[[]int{0, 1, 12, 13}[g.r.IntN(4)]]})
		case 2: // a merged quantity above 999
			sku := g.sku()
			c = g.insert(g.insert(c, Item{sku, 500 + g.r.IntN(499)}), Item{sku, 500 + g.r.IntN(499)})
		case 3:
			c.Tier = g.pick(badTiers)
		case 4: // one or two unknown products
			c = g.insert(c, Item{g.pick(badSKUs), 1 + g.r.IntN(3)})
			if g.r.IntN(3) == 0 {
				c = g.insert(c, Item{g.pick(badSKUs), 1})
			}
		case 5:
			c.Region = g.pick(badRegions)
		case 6:
			c.Coupon = g.pick(badCoupons)
		}
	}
	return c
}

// windows draws random carts and keeps, for every boundary a quote can sit on, the first k that
// sit on it: half a cent at each rounding step, the VAT windows where rounding goods, shipping
// or lines apart differs from rounding their sum, each region's free-shipping threshold ±50,
// WELCOME10's 2000 ± 50, TEA5's 3 tea units, the weight steps (1000 g, every 500 g above),
// gift-only carts and lines with equal totals.
func (g gen) windows(k int) []Cart {
	const draws = 60000
	count := map[string]int{}
	var out []Cart
	for range draws {
		c := g.random()
		q, refusal := Price(c)
		if refusal != nil {
			continue
		}
		keep := false
		for _, f := range boundaries(c, q) {
			if count[f] < k {
				count[f]++
				keep = true
			}
		}
		if keep {
			out = append(out, c)
		}
	}
	return out
}

// boundaries names the boundaries a valid cart's quote sits on.
func boundaries(c Cart, q Quote) []string {
	code := c.Region
	if code == "" {
		code = "EU"
	}
	reg := Regions[code]
	coupon := strings.ToUpper(strings.TrimSpace(c.Coupon))
	var discountable, weight int64
	teas := 0
	var out []string
	for _, l := range q.Lines {
		p, _ := product(l.SKU)
		if p.Category != "gift" {
			discountable += l.Total
		}
		if p.Category == "tea" {
			teas += l.Qty
		}
		weight += p.WeightG * int64(l.Qty)
		gross := l.UnitPrice * int64(l.Qty)
		if l.Discount > 0 && (gross*5%100 == 50 || gross*10%100 == 50) {
			out = append(out, "line discount half a cent")
		}
	}
	goods := discountable - q.Discount
	if c.Tier == "gold" && discountable*3%100 == 50 {
		out = append(out, "gold half a cent")
	}
	gold := int64(0)
	if c.Tier == "gold" {
		gold = roundDiv(discountable*3, 100)
	}
	if coupon == "WELCOME10" {
		if discountable >= 2000 && (discountable-gold)*10%100 == 50 {
			out = append(out, "WELCOME10 half a cent")
		}
		if d := discountable - 2000; d >= -50 && d <= 50 {
			out = append(out, fmt.Sprintf("WELCOME10 threshold %+d", sign(d)))
		}
	}
	if coupon == "TEA5" {
		if teas == 2 || teas == 3 {
			out = append(out, fmt.Sprintf("TEA5 with %d teas", teas))
		}
	}
	if d := goods - reg.FreeFrom; d >= -50 && d <= 50 && coupon != "FREESHIP" {
		out = append(out, fmt.Sprintf("%s free shipping %+d", code, sign(d)))
	}
	// Weights are multiples of 40 g: the nearest a cart comes to a step is 40 g past it.
	switch over := weight - 1000; {
	case over == 0:
		out = append(out, "weight 1000 g")
	case over > 0 && over%500 == 0:
		out = append(out, "weight on a 500 g step")
	case over > 0 && over%500 <= 40:
		out = append(out, "weight just past a 500 g step")
	}
	if v := reg.VATBasisPts; v > 0 {
		rem := (goods + q.Shipping) * v % 10000
		switch {
		case rem == 5000:
			out = append(out, code+" VAT half a cent")
		case rem > 5000-v && rem < 5000+v:
			out = append(out, code+" VAT within a cent of half")
		}
		if q.Shipping > 0 && roundDiv(goods*v, 10000)+roundDiv(q.Shipping*v, 10000) != q.Tax {
			out = append(out, code+" VAT on goods and shipping rounded apart differs")
		}
		var perLine int64
		for _, l := range q.Lines {
			if p, _ := product(l.SKU); p.Category != "gift" {
				perLine += roundDiv(l.Total*v, 10000)
			}
		}
		if q.Discount == 0 && perLine+roundDiv(q.Shipping*v, 10000) != q.Tax {
			out = append(out, code+" VAT per line differs")
		}
	}
	if discountable == 0 {
		out = append(out, "gift cards only")
	}
	for i := 1; i < len(q.Lines); i++ {
		if q.Lines[i].Total == q.Lines[i-1].Total {
			out = append(out, "lines with equal totals")
			break
		}
	}
	sort.Strings(out)
	return out
}

func sign(d int64) int64 {
	switch {
	case d < 0:
		return -1
	case d > 0:
		return 1
	}
	return 0
}
