package main

// kind decides which rules apply to a product.
type kind int

const (
	tea kind = iota + 1
	ware
	gift
)

type product struct {
	name    string
	price   int64 // cents, tax excluded
	weightG int64
	kind    kind
}

var catalog = map[string]product{
	"TEA-GREEN":  {"Green tea 100 g", 450, 120, tea},
	"TEA-BLACK":  {"Black tea 100 g", 395, 120, tea},
	"TEA-OOLONG": {"Oolong 100 g", 795, 120, tea},
	"MUG-CLAY":   {"Clay mug", 1250, 400, ware},
	"POT-IRON":   {"Cast-iron teapot", 4999, 1600, ware},
	"FILTER-100": {"Paper filters x100", 299, 80, ware},
	"GIFT-25":    {"Gift card 25", 2500, 0, gift},
}

type region struct {
	currency    string
	shipping    int64 // base shipping, cents
	freeFrom    int64 // goods value from which shipping is free
	vatBasisPts int64 // 2000 = 20 %
}

var regions = map[string]region{
	"EU": {"EUR", 495, 5000, 2000},
	"UK": {"GBP", 595, 4500, 2000},
	"US": {"USD", 895, 7500, 0},
	"CH": {"CHF", 1295, 10000, 810},
}

const defaultRegion = "EU"
