// Reading and checking a quote request, in the contract's order: every 400 before any 422.
import { CATALOG, COUPONS, DEFAULT_REGION, REGIONS, TIERS } from "./catalog";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface OrderLine {
  sku: string;
  qty: number;
}

// Order is a request that passed every check, its products merged.
export interface Order {
  lines: OrderLine[];
  region: string;
  coupon: string;
  gold: boolean;
}

interface Item {
  sku?: string | null;
  qty?: number | null;
}

interface Body {
  items?: Item[] | null;
  region?: string | null;
  coupon?: string | null;
  tier?: string | null;
}

const invalid = () => new ApiError(400, "invalid body");
const badQty = () => new ApiError(400, "qty must be an integer from 1 to 999");

// Strings whole, or a number written with a fraction or an exponent.
const NON_INTEGER_LITERAL = /"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?[eE][+-]?\d+|-?\d+\.\d+/g;

// parseBody reads JSON the way the contract counts types: JSON.parse reads 2.0 and 1e1 as the
// integers 2 and 10, but a quantity must be sent as an integer. So once the text is known to be
// JSON, every number written with a fraction or an exponent is read as `true`, which no field
// accepts; strings are matched whole first so that digits inside them are left alone.
export function parseBody(raw: string): unknown {
  try {
    JSON.parse(raw);
    return JSON.parse(raw.replace(NON_INTEGER_LITERAL, (m) => (m[0] === '"' ? m : "true")));
  } catch {
    throw invalid();
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isAbsent = (v: unknown) => v === undefined || v === null;
const isOptionalString = (v: unknown) => isAbsent(v) || typeof v === "string";
const isOptionalInteger = (v: unknown) => isAbsent(v) || (typeof v === "number" && Number.isInteger(v));

// checkTypes refuses a body with a field of the wrong type, anywhere in it.
function checkTypes(body: unknown): Body {
  if (!isObject(body)) throw invalid();
  if (!["region", "coupon", "tier"].every((k) => isOptionalString(body[k]))) throw invalid();
  const items = body.items;
  if (isAbsent(items)) return body as Body;
  if (!Array.isArray(items)) throw invalid();
  for (const it of items) {
    if (!isObject(it) || !isOptionalString(it.sku) || !isOptionalInteger(it.qty)) throw invalid();
  }
  return body as Body;
}

// mergeLines adds repeated products into the line where each first appeared. Each quantity is
// checked as sent, and each merged one again.
export function mergeLines(items: Item[]): OrderLine[] {
  const lines: OrderLine[] = [];
  for (const it of items) {
    const qty = it.qty || 0;
    if (qty < 1 || qty > 999) throw badQty();
    const sku = it.sku || "";
    const line = lines.find((l) => l.sku === sku);
    if (line) {
      line.qty += qty;
    } else {
      lines.push({ sku, qty });
    }
  }
  if (lines.some((l) => l.qty > 999)) throw badQty();
  return lines;
}

// toOrder checks a parsed body and returns the order it asks for.
export function toOrder(parsed: unknown): Order {
  const body = checkTypes(parsed);
  if (!body.items || body.items.length === 0) throw new ApiError(400, "items must be a non-empty list");
  const lines = mergeLines(body.items);
  const tier = body.tier || "";
  if (tier !== "" && !TIERS.includes(tier)) throw new ApiError(400, "tier must be standard or gold");

  const unknown = lines.find((l) => !CATALOG.has(l.sku));
  if (unknown) throw new ApiError(422, "unknown sku: " + unknown.sku);
  const region = body.region || DEFAULT_REGION;
  if (!REGIONS.has(region)) throw new ApiError(422, "unsupported region: " + region);
  const coupon = (body.coupon || "").trim().toUpperCase();
  if (coupon !== "" && !COUPONS.includes(coupon)) throw new ApiError(422, "unknown coupon: " + coupon);
  return { lines, region, coupon, gold: tier === "gold" };
}
