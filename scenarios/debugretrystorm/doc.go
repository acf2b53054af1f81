// Package debugretrystorm is the debug challenge "debug-retry-storm": a prices service with a
// cache in front of a catalog service, shipped with a planted production bug and the incident
// it caused (INC-2291 in the brief). A price update invalidates the whole cache instead of one
// product, so a price import turns every read into a catalog call; when the catalog slows down
// under that load, reads time out and are retried, and the load triples: a retry storm.
//
// The incident scenarios reproduce the page (a price import, then one with a slow catalog) and
// count the catalog calls the downstream fake recorded; the regression scenarios hold the rest of
// the contract (caching, freshness after an update, the retry budget — exactly 3 attempts, not
// fewer, not more —, the currency and price checks, price writes sent once and given 2 s), so
// that a fix of the symptom (a longer timeout, more retries, no retries) or a fix that breaks
// something else is caught. Every property the brief numbers maps to the scenarios that check
// it (killmatrix_test.go), and a failure says what the catalog's record shows.
package debugretrystorm
