// The shop's tables: products and regions. Everything a price depends on is data here.

export type Kind = "tea" | "ware" | "gift";

export interface Product {
  readonly sku: string;
  readonly name: string;
  readonly price: number; // cents
  readonly weight: number; // grams
  readonly kind: Kind;
}

export interface Region {
  readonly currency: string;
  readonly shipping: number; // cents, for the first 1000 g
  readonly freeFrom: number; // goods value from which shipping is free (inclusive)
  readonly vatBasisPoints: number; // 2000 = 20 %
}

const products: Product[] = [
  { sku: "TEA-GREEN", name: "Green tea 100 g", price: 450, weight: 120, kind: "tea" },
  { sku: "TEA-BLACK", name: "Black tea 100 g", price: 395, weight: 120, kind: "tea" },
  { sku: "TEA-OOLONG", name: "Oolong 100 g", price: 795, weight: 120, kind: "tea" },
  { sku: "MUG-CLAY", name: "Clay mug", price: 1250, weight: 400, kind: "ware" },
  { sku: "POT-IRON", name: "Cast-iron teapot", price: 4999, weight: 1600, kind: "ware" },
  { sku: "FILTER-100", name: "Paper filters x100", price: 299, weight: 80, kind: "ware" },
  { sku: "GIFT-25", name: "Gift card 25", price: 2500, weight: 0, kind: "gift" },
];

export const CATALOG: ReadonlyMap<string, Product> = new Map(products.map((p) => [p.sku, p]));

export const REGIONS: ReadonlyMap<string, Region> = new Map([
  ["EU", { currency: "EUR", shipping: 495, freeFrom: 5000, vatBasisPoints: 2000 }],
  ["UK", { currency: "GBP", shipping: 595, freeFrom: 4500, vatBasisPoints: 2000 }],
  ["US", { currency: "USD", shipping: 895, freeFrom: 7500, vatBasisPoints: 0 }],
  ["CH", { currency: "CHF", shipping: 1295, freeFrom: 10000, vatBasisPoints: 810 }],
]);

export const DEFAULT_REGION = "EU";

// Volume discounts by units of one product, the largest threshold first (percent of the gross).
export const VOLUME_TIERS: ReadonlyArray<{ from: number; percent: number }> = [
  { from: 50, percent: 10 },
  { from: 10, percent: 5 },
];

export const GOLD_PERCENT = 3;
export const COUPONS = ["WELCOME10", "TEA5", "FREESHIP"] as const;
export type Coupon = (typeof COUPONS)[number];
