package flashsale_test

import (
	"testing"

	"github.com/holdfast-ci/holdfast/scenarios/flashsale"
	"github.com/holdfast-ci/holdfast/scenarios/scenariotest"
)

// properties maps every rule the brief numbers to the scenarios that check it.
var properties = map[string][]string{
	"P1":  {"basic_buy_and_sold_out", "restock_keeps_orders"},
	"P2":  {"basic_buy_and_sold_out"},
	"P3":  {"basic_buy_and_sold_out"},
	"P4":  {"basic_buy_and_sold_out", "concurrent_no_oversell", "concurrent_no_false_sold_out", "linearizable_history"},
	"P5":  {"basic_buy_and_sold_out", "concurrent_no_false_sold_out"},
	"P6":  {"basic_buy_and_sold_out", "concurrent_no_oversell"},
	"P7":  {"order_retry_idempotent", "last_unit_retry", "restock_keeps_orders"},
	"P8":  {"order_retry_idempotent"},
	"P9":  {"basic_buy_and_sold_out"},
	"P10": {"basic_buy_and_sold_out"},
	"P11": {"basic_buy_and_sold_out", "sold_out_order_can_retry"},
	"P12": {"concurrent_no_oversell", "linearizable_history"},
	"P13": {"concurrent_no_oversell", "concurrent_no_false_sold_out", "linearizable_history"},
	"P14": {"order_retry_idempotent", "last_unit_retry"},
	"P15": {"concurrent_no_oversell", "concurrent_no_false_sold_out", "linearizable_history"},
	"P16": {"linearizable_history"},
	"P17": {"concurrent_no_oversell", "concurrent_no_false_sold_out", "linearizable_history", "order_retry_idempotent"},
	"P18": {"basic_buy_and_sold_out", "order_retry_idempotent", "restock_keeps_orders", "sold_out_order_can_retry"},
}

func TestPropertiesAreChecked(t *testing.T) {
	scenariotest.Properties(t, scenariotest.ReadBrief(t, flashsale.Slug), flashsale.Scenarios(), properties)
}
