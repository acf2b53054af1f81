// Package refactororderpricing is the refactor challenge "refactor-order-pricing": a working but
// tangled quote service for a tea shop (volume discounts, a gold tier, coupons, shipping by
// weight and region, VAT, half-even rounding). The starter passes every scenario; the learner
// restructures it in a pull request, and grading/compare runs these scenarios on the base and
// the head: any behaviour that changes fails the refactor.
//
// The scenarios pin the contract exactly (every field of every quote both ways, every error's
// status and message, the Content-Type), using pricing.go, an independent implementation of the
// brief, as the oracle. Their inputs are fixed tables and fixed seeds, so base and head see the
// same requests: boundary_carts sends about 2000 requests Generate draws from GeneratorSeed,
// aimed at the brief's boundaries (rounding windows, ties, merges, limits, every error row), and
// reports the smallest request whose answer changed.
package refactororderpricing
