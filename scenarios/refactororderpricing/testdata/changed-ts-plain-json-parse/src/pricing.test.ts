import { test } from "node:test";
import assert from "node:assert/strict";
import { divRound } from "./money";
import { quote } from "./server";

const ask = (body: unknown) => quote(JSON.stringify(body));

test("halves round to even", () => {
  assert.equal(divRound(2765, 10), 276);
  assert.equal(divRound(2775, 10), 278);
  assert.equal(divRound(2764, 10), 276);
  assert.equal(divRound(2766, 10), 277);
});

test("the brief's example", () => {
  assert.deepEqual(ask({ items: [{ sku: "TEA-GREEN", qty: 3 }], region: "EU", coupon: "WELCOME10", tier: "gold" }), {
    status: 200,
    body: {
      currency: "EUR",
      lines: [{ sku: "TEA-GREEN", name: "Green tea 100 g", qty: 3, unit_price: 450, discount: 0, total: 1350 }],
      subtotal: 1350, discount: 40, shipping: 495, tax: 361, total: 2166,
    },
  });
});

test("quantities are integers as written", () => {
  for (const qty of ["2.5", '"2"', "true"]) {
    assert.deepEqual(quote(`{"items":[{"sku":"TEA-GREEN","qty":${qty}}]}`), { status: 400, body: { error: "invalid body" } }, qty);
  }
});

test("every 400 comes before any 422", () => {
  assert.deepEqual(ask({ items: [{ sku: "COFFEE", qty: 1 }, { sku: "TEA-GREEN", qty: 1000 }] }).body, {
    error: "qty must be an integer from 1 to 999",
  });
  assert.deepEqual(ask({ items: [{ sku: "constructor", qty: 1 }] }), { status: 422, body: { error: "unknown sku: constructor" } });
});

test("empty and null optional fields count as left out", () => {
  const plain = ask({ items: [{ sku: "MUG-CLAY", qty: 1 }] });
  assert.deepEqual(ask({ items: [{ sku: "MUG-CLAY", qty: 1 }], region: "", coupon: null, tier: "" }), plain);
});

test("equal totals keep the order they were asked for in", () => {
  const skus = (items: unknown[]) => (ask({ items }).body as { lines: { sku: string }[] }).lines.map((l) => l.sku);
  assert.deepEqual(skus([{ sku: "MUG-CLAY", qty: 2 }, { sku: "GIFT-25", qty: 1 }]), ["MUG-CLAY", "GIFT-25"]);
  assert.deepEqual(skus([{ sku: "GIFT-25", qty: 1 }, { sku: "MUG-CLAY", qty: 2 }]), ["GIFT-25", "MUG-CLAY"]);
});
