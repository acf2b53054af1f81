package main

// coupon computes a coupon's discount on what is left after the gold tier's.
type coupon func(b basket, afterGold int64) int64

var coupons = map[string]coupon{
	"WELCOME10": func(b basket, afterGold int64) int64 {
		if b.discountable < 2000 { // the threshold is on goods before the gold discount
			return 0
		}
		return percentOf(afterGold, 10)
	},
	"TEA5": func(b basket, afterGold int64) int64 {
		if b.teas < 3 {
			return 0
		}
		return min(500, afterGold)
	},
	"FREESHIP": func(basket, int64) int64 { return 0 }, // see shipping
}

// orderDiscount is gold's 3 % first, then the coupon on the rest.
func orderDiscount(o order, b basket) int64 {
	var gold int64
	if o.gold {
		gold = percentOf(b.discountable, 3)
	}
	off := int64(0)
	if c, ok := coupons[o.coupon]; ok {
		off = c(b, b.discountable-gold)
	}
	return gold + off
}
