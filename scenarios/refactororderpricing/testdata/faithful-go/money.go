package main

// percentOf returns pct % of amount in cents, rounded half to even.
func percentOf(amount, pct int64) int64 { return divRound(amount*pct, 100) }

// divRound divides non-negative a by b, rounding half to even (finance's rule, PRC-88).
func divRound(a, b int64) int64 {
	q, r := a/b, a%b
	if 2*r > b || (2*r == b && q%2 == 1) {
		q++
	}
	return q
}
