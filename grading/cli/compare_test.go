package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-ci/holdfast/grading"
	"github.com/holdfast-ci/holdfast/grading/app/config"
	"github.com/holdfast-ci/holdfast/grading/compare"
	"github.com/holdfast-ci/holdfast/grading/docker/dockertest"
	refactor "github.com/holdfast-ci/holdfast/scenarios/refactororderpricing"
	"github.com/holdfast-ci/holdfast/scenarios/scenariotest"
)

const (
	pricingStarter = "../../templates/refactor-order-pricing/starter/go"
	pricingHeads   = "../../scenarios/refactororderpricing/testdata/"
)

func runCompare(t *testing.T, lookup func(string) (grading.Challenge, error), args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cfg, err := config.FromEnv(os.Getenv, config.Local)
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code = compareCmd(ctx, args, cfg, &out, &errb, slog.New(slog.DiscardHandler), lookup)
	return code, out.String(), errb.String()
}

func pricingLookup(t *testing.T) func(string) (grading.Challenge, error) {
	ch := scenariotest.Challenge(t, refactor.Slug, refactor.Scenarios())
	return func(slug string) (grading.Challenge, error) {
		if slug != refactor.Slug {
			return grading.Challenge{}, errors.New(`unknown challenge "` + slug + `"; known challenges: ` + refactor.Slug)
		}
		return ch, nil
	}
}

func TestCompareBadInput(t *testing.T) {
	lookup := pricingLookup(t)
	for _, c := range []struct {
		name string
		args []string
		say  string
	}{
		{"no challenge", []string{pricingStarter, pricingStarter}, "want --challenge SLUG and two directories"},
		{"one directory", []string{"--challenge", refactor.Slug, pricingStarter}, "want --challenge SLUG and two directories"},
		{"three directories", []string{"--challenge", refactor.Slug, pricingStarter, pricingStarter, pricingStarter}, "two directories"},
		{"missing head", []string{"--challenge", refactor.Slug, pricingStarter, "testdata/does-not-exist"}, "cannot read testdata/does-not-exist"},
		{"head without Dockerfile", []string{"--challenge", refactor.Slug, pricingStarter, "testdata/no-dockerfile"}, "has no Dockerfile"},
		{"unknown challenge, flags after the directories", []string{pricingStarter, pricingStarter, "--challenge", "nope", "--json"}, `unknown challenge "nope"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := runCompare(t, lookup, c.args...)
			if code != exitUsage || !strings.Contains(stderr, c.say) {
				t.Fatalf("exit %d, stderr %q; want exit %d saying %q", code, stderr, exitUsage, c.say)
			}
		})
	}
}

// TestCompareRefactors runs `runner compare` for real: a faithful refactor exits 0 with no
// behaviour changed; a refactor that changed an error's status exits 1 and says which scenario
// changed, before and after.
func TestCompareRefactors(t *testing.T) {
	dockertest.Engine(t)
	lookup := pricingLookup(t)

	code, stdout, stderr := runCompare(t, lookup, "--challenge", refactor.Slug, pricingStarter, pricingHeads+"faithful-go", "--json")
	var r compare.Result
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("--json output: %v\n%s\nstderr:\n%s", err, stdout, stderr)
	}
	if code != exitPass || r.Status != grading.Passed || r.Score != 100 || r.Quality == nil || r.Quality.Head.Tests == 0 {
		t.Fatalf("faithful refactor: exit %d, %s %d/100, quality %+v\nstderr:\n%s", code, r.Status, r.Score, r.Quality, stderr)
	}
	if !strings.Contains(stderr, "grading the base") || !strings.Contains(stderr, "grading the head") {
		t.Fatalf("progress does not say which side is graded:\n%s", stderr)
	}

	code, stdout, stderr = runCompare(t, lookup, "--challenge", refactor.Slug, pricingStarter, pricingHeads+"changed-error-status")
	for _, want := range []string{"DIFF validation_errors  behaviour changed", "     before: passed",
		`after:  failed (expected 422 {"error": "unknown sku: COFFEE"} for an unknown product; actual 400`, "SAME line_pricing", "DIFF boundary_carts",
		"2 changed, 5 unchanged, 1 hidden", "quality of the code (information, not part of the score)"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if code != exitFail || t.Failed() {
		t.Fatalf("changed error status: exit %d; want %d\n%s\nstderr:\n%s", code, exitFail, stdout, stderr)
	}
}
