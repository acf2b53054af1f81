package refactororderpricing_test

import (
	"testing"

	refactor "github.com/holdfast-ci/holdfast/scenarios/refactororderpricing"
	"github.com/holdfast-ci/holdfast/scenarios/scenariotest"
)

// quotes are the scenarios that hold whole quotes to the brief.
var quotes = []string{"line_pricing", "rounding", "coupons", "shipping_and_tax", "line_order", "seeded_carts", "boundary_carts"}

// errorRow is checked by the fixed refusals and by the generated requests.
var errorRow = []string{"validation_errors", "boundary_carts"}

// properties maps every rule the brief numbers to the scenarios that check it.
var properties = map[string][]string{
	"P1":  errorRow,         // Content-Type on errors (validation_errors) and on every answer (boundary_carts)
	"P2":  errorRow,         // {"error": message} and no other field
	"P3":  {"line_pricing"}, // the grader starts no scenario before /healthz answers 200
	"P4":  {"shipping_and_tax", "seeded_carts", "boundary_carts"},
	"P5":  quotes, // every field, both ways
	"P6":  {"validation_errors"},
	"P7":  {"rounding", "coupons", "boundary_carts"},
	"P8":  {"line_order", "boundary_carts"},
	"P9":  {"line_pricing", "seeded_carts", "boundary_carts"},
	"P10": {"line_order", "coupons", "boundary_carts"},
	"P11": {"line_pricing", "coupons", "boundary_carts"},
	"P12": {"rounding", "coupons", "boundary_carts"},
	"P13": {"coupons", "boundary_carts"},
	"P14": {"coupons", "boundary_carts"},
	"P15": {"coupons", "boundary_carts"},
	"P16": {"coupons", "boundary_carts"},
	"P17": {"shipping_and_tax", "boundary_carts"},
	"P18": {"shipping_and_tax", "boundary_carts"},
	"P19": quotes,
	"P20": errorRow,
	"P21": errorRow,
	"P22": errorRow,
	"P23": errorRow,
	"P24": errorRow,
	"P25": errorRow,
	"P26": errorRow,
	"P27": errorRow,
}

func TestPropertiesAreChecked(t *testing.T) {
	scenariotest.Properties(t, scenariotest.ReadBrief(t, refactor.Slug), refactor.Scenarios(), properties)
}
