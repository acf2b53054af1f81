// Package catalog lists the challenges Holdfast can grade: each one's metadata from
// templates/<slug>/challenge.yaml and its scenario table from scenarios/<slug>/.
package catalog

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/store"
	"github.com/holdfast-ci/holdfast/scenarios"
	cachestampede "github.com/holdfast-ci/holdfast/scenarios/cache-stampede"
	circuitbreaker "github.com/holdfast-ci/holdfast/scenarios/circuit-breaker"
	debugretrystorm "github.com/holdfast-ci/holdfast/scenarios/debug-retry-storm"
	distributedlock "github.com/holdfast-ci/holdfast/scenarios/distributed-lock"
	flashsale "github.com/holdfast-ci/holdfast/scenarios/flash-sale"
	gracefulshutdown "github.com/holdfast-ci/holdfast/scenarios/graceful-shutdown"
	idempotentpayments "github.com/holdfast-ci/holdfast/scenarios/idempotent-payments"
	ratelimiter "github.com/holdfast-ci/holdfast/scenarios/rate-limiter"
	refactororderpricing "github.com/holdfast-ci/holdfast/scenarios/refactor-order-pricing"
	"github.com/holdfast-ci/holdfast/templates"
)

// tables maps each slug to its scenario table.
var tables = map[string]func() []scenarios.Scenario{
	cachestampede.Slug:        cachestampede.Scenarios,
	circuitbreaker.Slug:       circuitbreaker.Scenarios,
	debugretrystorm.Slug:      debugretrystorm.Scenarios,
	distributedlock.Slug:      distributedlock.Scenarios,
	flashsale.Slug:            flashsale.Scenarios,
	gracefulshutdown.Slug:     gracefulshutdown.Scenarios,
	ratelimiter.Slug:          ratelimiter.Scenarios,
	refactororderpricing.Slug: refactororderpricing.Scenarios,
	idempotentpayments.Slug:   idempotentpayments.Scenarios,
}

// Entry is one challenge: its metadata and what the grader needs.
type Entry struct {
	templates.Meta
	Challenge grading.Challenge
}

// Entries joins the templates' metadata with the scenario tables; a template without a table,
// or a table without a template, is an error.
func Entries() ([]Entry, error) {
	metas, err := templates.All()
	if err != nil {
		return nil, err
	}
	var out []Entry
	seen := map[string]bool{}
	for _, m := range metas {
		table, ok := tables[m.Slug]
		if !ok {
			return nil, fmt.Errorf("templates/%s has no scenario table in scenarios/catalog", m.Slug)
		}
		seen[m.Slug] = true
		out = append(out, Entry{Meta: m, Challenge: grading.Challenge{Slug: m.Slug, Scenarios: table(),
			Limits: grading.Limits{CPUs: m.Limits.CPUs, MemoryMB: m.Limits.MemoryMB, Pids: m.Limits.Pids, StartTimeout: m.StartTimeout, Replicas: m.Replicas}}})
	}
	for slug := range tables {
		if !seen[slug] {
			return nil, fmt.Errorf("scenarios for %s have no templates/%s/challenge.yaml", slug, slug)
		}
	}
	return out, nil
}

// parsed holds Entries' result: the YAML is embedded, so it never changes while running.
var parsed = sync.OnceValues(Entries)

func mustEntries() []Entry {
	es, err := parsed()
	if err != nil {
		panic(err) // embedded files: TestCatalog catches this before any build ships
	}
	return es
}

// Challenges returns every gradeable challenge.
func Challenges() []grading.Challenge {
	var out []grading.Challenge
	for _, e := range mustEntries() {
		out = append(out, e.Challenge)
	}
	return out
}

// Metadata lists the challenges for the App's catalog table.
func Metadata() []store.Challenge {
	var out []store.Challenge
	for _, e := range mustEntries() {
		out = append(out, store.Challenge{Slug: e.Slug, Title: e.Title, Difficulty: e.Difficulty, Languages: e.Languages, Formats: e.Formats})
	}
	return out
}

// Slugs lists the challenges' slugs.
func Slugs() []string {
	var out []string
	for _, e := range mustEntries() {
		out = append(out, e.Slug)
	}
	return out
}

// Lookup finds a challenge by slug; the error lists the known ones.
func Lookup(slug string) (grading.Challenge, error) {
	var known []string
	for _, c := range Challenges() {
		if c.Slug == slug {
			return c, nil
		}
		known = append(known, c.Slug)
	}
	sort.Strings(known)
	return grading.Challenge{}, fmt.Errorf("unknown challenge %q; known challenges: %s", slug, strings.Join(known, ", "))
}
