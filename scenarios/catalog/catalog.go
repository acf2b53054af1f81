// Package catalog lists the challenges Holdfast can grade, by slug.
package catalog

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/store"
	idempotentpayments "github.com/holdfast-ci/holdfast/scenarios/idempotent-payments"
)

// Challenges returns every gradeable challenge.
func Challenges() []grading.Challenge {
	return []grading.Challenge{
		{Slug: idempotentpayments.Slug, Scenarios: idempotentpayments.Scenarios(), Limits: grading.Limits{StartTimeout: 30 * time.Second}},
	}
}

// Metadata lists the challenges for the App's catalog table.
func Metadata() []store.Challenge {
	return []store.Challenge{
		{Slug: idempotentpayments.Slug, Title: "Idempotent payments API", Difficulty: "intermediate",
			Languages: []string{"go", "ts", "python"}, Formats: []string{"practice", "take-home"}},
	}
}

// Slugs lists the challenges' slugs.
func Slugs() []string {
	var out []string
	for _, c := range Challenges() {
		out = append(out, c.Slug)
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
