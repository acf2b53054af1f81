package flashsale

import (
	"strings"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/scenarios"
)

func buy(id string, qty int64, call, ret int, ok bool) op {
	return op{Kind: opBuy, Replica: 1, OrderID: id, Qty: qty, Call: ms(call), Return: ms(ret), Confirmed: ok}
}

func read(stock int64, call, ret, replica int) op {
	return op{Kind: opRead, Replica: replica, Stock: stock, Call: ms(call), Return: ms(ret)}
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// TestCheckSale holds the checker to histories whose verdict is known, including one only
// porcupine can refuse (reads going backwards, each within the bounds on its own).
func TestCheckSale(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		stock int64
		ops   []op
		want  string // "" passes; otherwise a word of the failure
	}{
		{"sequential sale", 2, []op{read(2, 0, 1, 1), buy("a", 1, 2, 3, true), buy("b", 1, 4, 5, true), buy("c", 1, 6, 7, false), read(0, 8, 9, 2)}, ""},
		{"concurrent, either order", 1, []op{buy("a", 1, 0, 10, true), buy("b", 1, 0, 10, false), read(1, 2, 3, 2), read(0, 11, 12, 1)}, ""},
		{"oversold", 1, []op{buy("a", 1, 0, 10, true), buy("b", 1, 0, 10, true), read(0, 11, 12, 1)}, "oversold"},
		{"lost update", 3, []op{buy("a", 1, 0, 10, true), buy("b", 1, 0, 10, true), read(2, 11, 12, 1), read(2, 13, 14, 2)}, "lost update"},
		{"replicas disagree", 3, []op{buy("a", 1, 0, 10, true), read(2, 11, 12, 1), read(3, 13, 14, 2)}, "replicas disagree"},
		{"false sold out", 3, []op{buy("a", 1, 0, 10, true), buy("b", 1, 0, 10, false), read(2, 11, 12, 1)}, "sold_out"},
		{"stale read", 3, []op{read(3, 0, 1, 2), buy("a", 1, 2, 3, true), read(3, 4, 5, 2), buy("b", 1, 6, 7, true), read(1, 8, 9, 1), read(1, 10, 11, 2)}, "after 1 units had been confirmed"},
		{"phantom decrement", 3, []op{read(1, 0, 1, 1), buy("a", 1, 2, 3, true), read(2, 4, 5, 1)}, "no fewer than 3"},
		{"reads go backwards", 2, []op{buy("a", 1, 0, 100, true), buy("b", 1, 0, 100, true), read(0, 10, 20, 1), read(1, 30, 40, 2), read(0, 101, 102, 1)}, "no order of these"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := checkSale(c.stock, c.ops)
			if c.want == "" {
				if err != nil {
					t.Fatalf("want a pass, got %v", err)
				}
				return
			}
			f, ok := scenarios.AsFailure(err)
			if !ok {
				t.Fatalf("want a failure mentioning %q, got %v", c.want, err)
			}
			if text := f.Expected + " " + f.Actual + " " + f.Hint; !strings.Contains(text, c.want) {
				t.Fatalf("want a failure mentioning %q, got expected %q, actual %q, hint %q", c.want, f.Expected, f.Actual, f.Hint)
			}
		})
	}
}
