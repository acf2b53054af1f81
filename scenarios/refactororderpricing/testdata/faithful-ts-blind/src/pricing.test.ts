import { test } from "node:test";
import assert from "node:assert/strict";
import { answer } from "./index";

const quote = (body: unknown) => answer(JSON.stringify(body));

test("the brief's example", () => {
  const [status, q] = quote({ items: [{ sku: "TEA-GREEN", qty: 3 }], region: "EU", coupon: "WELCOME10", tier: "gold" });
  assert.equal(status, 200);
  assert.deepEqual(q, {
    currency: "EUR",
    lines: [{ sku: "TEA-GREEN", name: "Green tea 100 g", qty: 3, unit_price: 450, discount: 0, total: 1350 }],
    subtotal: 1350, discount: 40, shipping: 495, tax: 361, total: 2166,
  });
});

test("a quantity written 2.0 is not an integer", () => {
  assert.deepEqual(answer('{"items":[{"sku":"TEA-GREEN","qty":2.0}]}'), [400, { error: "invalid body" }]);
});

test("400s come before 422s", () => {
  assert.deepEqual(quote({ items: [{ sku: "COFFEE", qty: 1 }, { sku: "TEA-GREEN", qty: 1000 }] }), [
    400, { error: "qty must be an integer from 1 to 999" },
  ]);
});

test("equal totals keep the order they were asked in", () => {
  const skus = (body: unknown) => (quote(body)[1] as { lines: { sku: string }[] }).lines.map((l) => l.sku);
  assert.deepEqual(skus({ items: [{ sku: "MUG-CLAY", qty: 2 }, { sku: "GIFT-25", qty: 1 }] }), ["MUG-CLAY", "GIFT-25"]);
  assert.deepEqual(skus({ items: [{ sku: "GIFT-25", qty: 1 }, { sku: "MUG-CLAY", qty: 2 }] }), ["GIFT-25", "MUG-CLAY"]);
});
