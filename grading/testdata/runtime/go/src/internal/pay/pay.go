package pay

// Charge indexes a map that was never made.
func Charge(amounts map[string]int, id string) {
	var seen map[string]bool
	seen[id] = true
	amounts[id]++
}

// Nth reads past the end.
func Nth(xs []int, i int) int {
	return xs[i]
}
