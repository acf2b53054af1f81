package main

import "sort"

type line struct {
	SKU       string `json:"sku"`
	Name      string `json:"name"`
	Qty       int    `json:"qty"`
	UnitPrice int64  `json:"unit_price"`
	Discount  int64  `json:"discount"`
	Total     int64  `json:"total"`
}

type quote struct {
	Currency string `json:"currency"`
	Lines    []line `json:"lines"`
	Subtotal int64  `json:"subtotal"`
	Discount int64  `json:"discount"`
	Shipping int64  `json:"shipping"`
	Tax      int64  `json:"tax"`
	Total    int64  `json:"total"`
}

// basket sums what the order-level rules need.
type basket struct {
	discountable int64 // line totals of everything but gift cards
	weightG      int64
	teas         int
	onlyGifts    bool
}

// volumeDiscount is the line discount for buying qty of one product.
func volumeDiscount(p product, qty int, gross int64) int64 {
	switch {
	case p.kind == gift:
		return 0
	case qty >= 50:
		return percentOf(gross, 10)
	case qty >= 10:
		return percentOf(gross, 5)
	}
	return 0
}

func priceLines(o order) ([]line, basket) {
	b := basket{onlyGifts: true}
	lines := make([]line, 0, len(o.lines))
	for _, ol := range o.lines {
		p := catalog[ol.sku]
		gross := p.price * int64(ol.qty)
		disc := volumeDiscount(p, ol.qty, gross)
		lines = append(lines, line{SKU: ol.sku, Name: p.name, Qty: ol.qty, UnitPrice: p.price, Discount: disc, Total: gross - disc})
		if p.kind != gift {
			b.onlyGifts = false
			b.discountable += gross - disc
		}
		if p.kind == tea {
			b.teas += ol.qty
		}
		b.weightG += p.weightG * int64(ol.qty)
	}
	// Highest total first; equal totals keep the order they were asked for.
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].Total > lines[j].Total })
	return lines, b
}

// shipping is the region's rate plus 1.00 per started 500 g above the first kilogram, free
// from the region's threshold, with FREESHIP, or when there is nothing to ship.
func shipping(o order, b basket, goods int64) int64 {
	if b.onlyGifts || o.coupon == "FREESHIP" || goods >= o.region.freeFrom {
		return 0
	}
	cost := o.region.shipping
	if extra := b.weightG - 1000; extra > 0 {
		cost += 100 * ((extra + 499) / 500)
	}
	return cost
}

func price(o order) quote {
	lines, b := priceLines(o)
	q := quote{Currency: o.region.currency, Lines: lines}
	for _, l := range lines {
		q.Subtotal += l.Total
	}
	q.Discount = orderDiscount(o, b)
	goods := b.discountable - q.Discount
	q.Shipping = shipping(o, b, goods)
	q.Tax = divRound((goods+q.Shipping)*o.region.vatBasisPts, 10000)
	q.Total = q.Subtotal - q.Discount + q.Shipping + q.Tax
	return q
}
