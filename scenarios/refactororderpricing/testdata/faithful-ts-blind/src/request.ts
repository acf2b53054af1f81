// From a request body to an Order, or a Refusal: the contract's checks as one table, in the
// order the contract gives them (every 400 before any 422).
import { Json, JsonNumber } from "./json";
import { CATALOG, COUPONS, Coupon, DEFAULT_REGION, REGIONS } from "./catalog";

export class Refusal {
  constructor(
    readonly status: number,
    readonly message: string,
  ) {}
}

export interface OrderLine {
  readonly sku: string;
  readonly qty: number;
}

// Order is a request that passed every check.
export interface Order {
  readonly lines: OrderLine[]; // merged: one per product, where it first appeared
  readonly region: string;
  readonly coupon: Coupon | "";
  readonly gold: boolean;
}

// Shaped is a body whose fields all have the right types, defaults applied.
interface Shaped {
  readonly items: OrderLine[]; // as sent
  readonly merged: OrderLine[];
  readonly region: string;
  readonly coupon: string;
  readonly tier: string;
}

const INVALID = new Refusal(400, "invalid body");
const QTY = "qty must be an integer from 1 to 999";
const TIERS = ["standard", "gold"];

type Rule = { status: number; refuse: (r: Shaped) => string | null };

const RULES: Rule[] = [
  { status: 400, refuse: (r) => (r.items.length === 0 ? "items must be a non-empty list" : null) },
  { status: 400, refuse: (r) => (r.items.some((i) => !inRange(i.qty)) || r.merged.some((l) => l.qty > 999) ? QTY : null) },
  { status: 400, refuse: (r) => (r.tier === "" || TIERS.includes(r.tier) ? null : "tier must be standard or gold") },
  {
    status: 422,
    refuse: (r) => {
      const unknown = r.merged.find((l) => !CATALOG.has(l.sku));
      return unknown ? `unknown sku: ${unknown.sku}` : null;
    },
  },
  { status: 422, refuse: (r) => (REGIONS.has(r.region) ? null : `unsupported region: ${r.region}`) },
  { status: 422, refuse: (r) => (r.coupon === "" || isCoupon(r.coupon) ? null : `unknown coupon: ${r.coupon}`) },
];

function inRange(qty: number): boolean {
  return qty >= 1 && qty <= 999;
}

function isCoupon(code: string): code is Coupon {
  return (COUPONS as readonly string[]).includes(code);
}

// toOrder checks a parsed body; it throws the first Refusal that applies.
export function toOrder(body: Json): Order {
  const r = shape(body);
  for (const rule of RULES) {
    const message = rule.refuse(r);
    if (message !== null) throw new Refusal(rule.status, message);
  }
  return { lines: r.merged, region: r.region, coupon: r.coupon as Coupon | "", gold: r.tier === "gold" };
}

function shape(body: Json): Shaped {
  if (!(body instanceof Map)) throw INVALID;
  const region = optionalString(body.get("region"));
  const coupon = optionalString(body.get("coupon"));
  const tier = optionalString(body.get("tier"));
  const rawItems = body.get("items");
  if (rawItems !== undefined && rawItems !== null && !Array.isArray(rawItems)) throw INVALID;
  const items = (rawItems ?? []).map(shapeItem);
  return {
    items,
    merged: merge(items),
    // null and "" count as left out, like a missing field
    region: region || DEFAULT_REGION,
    coupon: coupon.trim().toUpperCase(),
    tier,
  };
}

function optionalString(v: Json | undefined): string {
  if (v === undefined || v === null) return "";
  if (typeof v !== "string") throw INVALID;
  return v;
}

function shapeItem(v: Json): OrderLine {
  if (!(v instanceof Map)) throw INVALID;
  const sku = optionalString(v.get("sku"));
  const qty = v.get("qty");
  if (qty === undefined || qty === null) return { sku, qty: 0 };
  if (!(qty instanceof JsonNumber)) throw INVALID;
  const n = qty.integer();
  if (n === null) throw INVALID;
  return { sku, qty: n };
}

function merge(items: OrderLine[]): OrderLine[] {
  const bySku = new Map<string, number>();
  for (const { sku, qty } of items) bySku.set(sku, (bySku.get(sku) ?? 0) + qty);
  return [...bySku].map(([sku, qty]) => ({ sku, qty }));
}
