// Package refactororderpricing is the refactor challenge "refactor-order-pricing": a working but
// tangled quote service for a tea shop (volume discounts, a gold tier, coupons, shipping by
// weight and region, VAT, half-even rounding). The starter passes every scenario; the learner
// restructures it in a pull request, and grading/compare runs these scenarios on the base and
// the head: any behaviour that changes fails the refactor.
//
// The scenarios pin the contract exactly (every field of every quote, every error's status and
// message), using pricing.go, an independent implementation of the brief, as the oracle. Their
// inputs are fixed tables and one fixed seed, so base and head see the same requests.
package refactororderpricing
