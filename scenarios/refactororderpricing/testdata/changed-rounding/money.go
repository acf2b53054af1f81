package main

import "math"

// percentOf returns pct % of amount in cents, rounded to the nearest cent.
func percentOf(amount, pct int64) int64 { return divRound(amount*pct, 100) }

// divRound divides a by b, rounded to the nearest integer: the standard library does it.
func divRound(a, b int64) int64 {
	return int64(math.Round(float64(a) / float64(b)))
}
