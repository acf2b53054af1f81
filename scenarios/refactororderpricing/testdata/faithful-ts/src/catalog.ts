// The shop's products and regions, as the brief lists them.

export type Kind = "tea" | "ware" | "gift";

export interface Product {
  name: string;
  price: number; // cents
  weight: number; // grams
  kind: Kind;
}

export interface Region {
  currency: string;
  shipping: number; // cents
  freeFrom: number; // goods value from which shipping is free (inclusive)
  vat: number; // basis points: 2000 = 20 %
}

// A Map, not an object literal: CATALOG.has("constructor") must be false.
export const CATALOG = new Map<string, Product>([
  ["TEA-GREEN", { name: "Green tea 100 g", price: 450, weight: 120, kind: "tea" }],
  ["TEA-BLACK", { name: "Black tea 100 g", price: 395, weight: 120, kind: "tea" }],
  ["TEA-OOLONG", { name: "Oolong 100 g", price: 795, weight: 120, kind: "tea" }],
  ["MUG-CLAY", { name: "Clay mug", price: 1250, weight: 400, kind: "ware" }],
  ["POT-IRON", { name: "Cast-iron teapot", price: 4999, weight: 1600, kind: "ware" }],
  ["FILTER-100", { name: "Paper filters x100", price: 299, weight: 80, kind: "ware" }],
  ["GIFT-25", { name: "Gift card 25", price: 2500, weight: 0, kind: "gift" }],
]);

export const REGIONS = new Map<string, Region>([
  ["EU", { currency: "EUR", shipping: 495, freeFrom: 5000, vat: 2000 }],
  ["UK", { currency: "GBP", shipping: 595, freeFrom: 4500, vat: 2000 }],
  ["US", { currency: "USD", shipping: 895, freeFrom: 7500, vat: 0 }],
  ["CH", { currency: "CHF", shipping: 1295, freeFrom: 10000, vat: 810 }],
]);

export const DEFAULT_REGION = "EU";
export const COUPONS = ["WELCOME10", "TEA5", "FREESHIP"];
export const TIERS = ["standard", "gold"];
