package main

import "testing"

func TestDivRoundHalfEven(t *testing.T) {
	for _, c := range []struct{ a, b, want int64 }{{2765, 10, 276}, {2775, 10, 278}, {2764, 10, 276}, {2766, 10, 277}, {0, 10, 0}} {
		if got := divRound(c.a, c.b); got != c.want {
			t.Errorf("divRound(%d, %d) = %d; want %d", c.a, c.b, got, c.want)
		}
	}
}

func TestVolumeDiscountThresholds(t *testing.T) {
	p := catalog["TEA-OOLONG"]
	for qty, want := range map[int]int64{9: 0, 10: 398, 49: 1948, 50: 3975} {
		if got := volumeDiscount(p, qty, p.price*int64(qty)); got != want {
			t.Errorf("volumeDiscount(%d) = %d; want %d", qty, got, want)
		}
	}
}

func TestMergeSumsRepeats(t *testing.T) {
	lines, err := mergeLines([]item{{"TEA-GREEN", 2}, {"FILTER-100", 1}, {"TEA-GREEN", 3}})
	if err != nil || len(lines) != 2 || lines[1] != (orderLine{"TEA-GREEN", 5}) {
		t.Fatalf("merged %+v, %v", lines, err)
	}
}

func TestShippingFreeFromThresholdInclusive(t *testing.T) {
	o := order{region: regions["EU"]}
	if got := shipping(o, basket{weightG: 1600}, 5000); got != 0 {
		t.Fatalf("shipping at the threshold = %d; want 0", got)
	}
	if got := shipping(o, basket{weightG: 1600}, 4999); got != 695 {
		t.Fatalf("shipping below the threshold = %d; want 695", got)
	}
}
