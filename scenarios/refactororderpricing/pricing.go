package refactororderpricing

import (
	"fmt"
	"sort"
	"strings"
)

// Product is one catalog entry of the brief.
type Product struct {
	SKU      string
	Name     string
	Price    int64 // cents, tax excluded
	WeightG  int64
	Category string // tea, ware, gift
}

// Catalog is the shop's catalog, as in the brief.
var Catalog = []Product{
	{"TEA-GREEN", "Green tea 100 g", 450, 120, "tea"},
	{"TEA-BLACK", "Black tea 100 g", 395, 120, "tea"},
	{"TEA-OOLONG", "Oolong 100 g", 795, 120, "tea"},
	{"MUG-CLAY", "Clay mug", 1250, 400, "ware"},
	{"POT-IRON", "Cast-iron teapot", 4999, 1600, "ware"},
	{"FILTER-100", "Paper filters x100", 299, 80, "ware"},
	{"GIFT-25", "Gift card 25", 2500, 0, "gift"},
}

// Region is one region's currency, shipping and VAT.
type Region struct {
	Currency    string
	Shipping    int64 // base shipping, cents
	FreeFrom    int64 // goods value from which shipping is free
	VATBasisPts int64 // 2000 = 20 %
}

// Regions are the supported regions of the brief.
var Regions = map[string]Region{
	"EU": {"EUR", 495, 5000, 2000},
	"UK": {"GBP", 595, 4500, 2000},
	"US": {"USD", 895, 7500, 0},
	"CH": {"CHF", 1295, 10000, 810},
}

// Item is one entry of a cart.
type Item struct {
	SKU string `json:"sku"`
	Qty int    `json:"qty"`
}

// Cart is a quote request.
type Cart struct {
	Items  []Item `json:"items"`
	Region string `json:"region,omitempty"`
	Coupon string `json:"coupon,omitempty"`
	Tier   string `json:"tier,omitempty"`
}

// Line is one line of a quote.
type Line struct {
	SKU       string `json:"sku"`
	Name      string `json:"name"`
	Qty       int    `json:"qty"`
	UnitPrice int64  `json:"unit_price"`
	Discount  int64  `json:"discount"`
	Total     int64  `json:"total"`
}

// Quote is the answer to a valid cart.
type Quote struct {
	Currency string `json:"currency"`
	Lines    []Line `json:"lines"`
	Subtotal int64  `json:"subtotal"`
	Discount int64  `json:"discount"`
	Shipping int64  `json:"shipping"`
	Tax      int64  `json:"tax"`
	Total    int64  `json:"total"`
}

// Refusal is an error answer: its status and message.
type Refusal struct {
	Status  int
	Message string
}

// roundDiv divides non-negative num by den, rounding half to even.
func roundDiv(num, den int64) int64 {
	q, r := num/den, num%den
	switch {
	case 2*r > den:
		q++
	case 2*r == den && q%2 == 1:
		q++
	}
	return q
}

func product(sku string) (Product, bool) {
	for _, p := range Catalog {
		if p.SKU == sku {
			return p, true
		}
	}
	return Product{}, false
}

// Price is the brief's pricing, written plainly: the oracle the scenarios hold the app to.
func Price(c Cart) (Quote, *Refusal) {
	if len(c.Items) == 0 {
		return Quote{}, &Refusal{400, "items must be a non-empty list"}
	}
	type merged struct {
		sku string
		qty int
	}
	var lines []merged
	at := map[string]int{}
	for _, it := range c.Items {
		if it.Qty < 1 || it.Qty > 999 {
			return Quote{}, &Refusal{400, "qty must be an integer from 1 to 999"}
		}
		if i, ok := at[it.SKU]; ok {
			lines[i].qty += it.Qty
			continue
		}
		at[it.SKU] = len(lines)
		lines = append(lines, merged{it.SKU, it.Qty})
	}
	for _, l := range lines {
		if l.qty > 999 {
			return Quote{}, &Refusal{400, "qty must be an integer from 1 to 999"}
		}
	}
	if c.Tier != "" && c.Tier != "standard" && c.Tier != "gold" {
		return Quote{}, &Refusal{400, "tier must be standard or gold"}
	}
	for _, l := range lines {
		if _, ok := product(l.sku); !ok {
			return Quote{}, &Refusal{422, "unknown sku: " + l.sku}
		}
	}
	regionCode := c.Region
	if regionCode == "" {
		regionCode = "EU"
	}
	region, ok := Regions[regionCode]
	if !ok {
		return Quote{}, &Refusal{422, "unsupported region: " + regionCode}
	}
	coupon := strings.ToUpper(strings.TrimSpace(c.Coupon))
	switch coupon {
	case "", "WELCOME10", "TEA5", "FREESHIP":
	default:
		return Quote{}, &Refusal{422, "unknown coupon: " + coupon}
	}

	q := Quote{Currency: region.Currency}
	var discountable, weight int64
	teas := 0
	allGift := true
	for _, l := range lines {
		p, _ := product(l.sku)
		gross := p.Price * int64(l.qty)
		var disc int64
		if p.Category != "gift" {
			allGift = false
			switch {
			case l.qty >= 50:
				disc = roundDiv(gross*10, 100)
			case l.qty >= 10:
				disc = roundDiv(gross*5, 100)
			}
			discountable += gross - disc
		}
		if p.Category == "tea" {
			teas += l.qty
		}
		weight += p.WeightG * int64(l.qty)
		q.Lines = append(q.Lines, Line{SKU: p.SKU, Name: p.Name, Qty: l.qty, UnitPrice: p.Price, Discount: disc, Total: gross - disc})
		q.Subtotal += gross - disc
	}
	sort.SliceStable(q.Lines, func(i, j int) bool { return q.Lines[i].Total > q.Lines[j].Total })

	var gold, off int64
	if c.Tier == "gold" {
		gold = roundDiv(discountable*3, 100)
	}
	switch coupon {
	case "WELCOME10":
		if discountable >= 2000 {
			off = roundDiv((discountable-gold)*10, 100)
		}
	case "TEA5":
		if teas >= 3 {
			off = min(500, discountable-gold)
		}
	}
	q.Discount = gold + off
	goods := discountable - q.Discount

	switch {
	case allGift, coupon == "FREESHIP", goods >= region.FreeFrom:
		q.Shipping = 0
	default:
		q.Shipping = region.Shipping
		if weight > 1000 {
			q.Shipping += 100 * ((weight - 1000 + 499) / 500)
		}
	}
	q.Tax = roundDiv((goods+q.Shipping)*region.VATBasisPts, 10000)
	q.Total = q.Subtotal - q.Discount + q.Shipping + q.Tax
	return q, nil
}

// describe names a cart briefly for learner-facing messages.
func (c Cart) describe() string {
	var parts []string
	for _, it := range c.Items {
		parts = append(parts, fmt.Sprintf("%d×%s", it.Qty, it.SKU))
	}
	s := strings.Join(parts, " + ")
	if c.Region != "" {
		s += " to " + c.Region
	}
	if c.Coupon != "" {
		s += fmt.Sprintf(" with coupon %q", c.Coupon)
	}
	if c.Tier != "" {
		s += " for a " + c.Tier + " customer"
	}
	return s
}
