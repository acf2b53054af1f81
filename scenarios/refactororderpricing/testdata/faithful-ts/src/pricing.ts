// Pricing a checked order: lines, discounts, shipping and VAT, in the brief's steps.
import { CATALOG, REGIONS, Region } from "./catalog";
import { divRound, percent } from "./money";
import { Order, OrderLine } from "./request";

export interface QuoteLine {
  sku: string;
  name: string;
  qty: number;
  unit_price: number;
  discount: number;
  total: number;
}

export interface Quote {
  currency: string;
  lines: QuoteLine[];
  subtotal: number;
  discount: number;
  shipping: number;
  tax: number;
  total: number;
}

// volumeDiscount: 10 % from 50 units, 5 % from 10, none on gift cards.
function volumeDiscount(gross: number, qty: number, gift: boolean): number {
  if (gift) return 0;
  if (qty >= 50) return percent(gross, 10);
  if (qty >= 10) return percent(gross, 5);
  return 0;
}

function priceLine({ sku, qty }: OrderLine): QuoteLine {
  const p = CATALOG.get(sku)!;
  const gross = p.price * qty;
  const discount = volumeDiscount(gross, qty, p.kind === "gift");
  return { sku, name: p.name, qty, unit_price: p.price, discount, total: gross - discount };
}

// byTotal sorts lines by total, highest first. Array.prototype.sort is stable, and the
// comparator is 0 for equal totals, so they keep the order they were asked for in.
function byTotal(lines: QuoteLine[]): QuoteLine[] {
  return [...lines].sort((a, b) => b.total - a.total);
}

// orderDiscount is gold's 3 % of the discountable amount, then the coupon on what is left.
function orderDiscount(order: Order, discountable: number, teaUnits: number): number {
  const gold = order.gold ? percent(discountable, 3) : 0;
  const left = discountable - gold;
  if (order.coupon === "WELCOME10" && discountable >= 2000) return gold + percent(left, 10);
  if (order.coupon === "TEA5" && teaUnits >= 3) return gold + Math.min(500, left);
  return gold;
}

// shippingCost: free for gift cards only, with FREESHIP, or from the region's threshold;
// otherwise the rate plus 100 per started 500 g above the first 1000 g.
function shippingCost(region: Region, goods: number, weight: number, free: boolean): number {
  if (free || goods >= region.freeFrom) return 0;
  const steps = weight > 1000 ? Math.ceil((weight - 1000) / 500) : 0;
  return region.shipping + steps * 100;
}

export function price(order: Order): Quote {
  const region = REGIONS.get(order.region)!;
  const products = order.lines.map((l) => ({ ...l, product: CATALOG.get(l.sku)! }));
  const lines = order.lines.map(priceLine);
  const subtotal = lines.reduce((sum, l) => sum + l.total, 0);
  const discountable = lines.filter((_, i) => products[i].product.kind !== "gift").reduce((sum, l) => sum + l.total, 0);
  const teaUnits = products.filter((l) => l.product.kind === "tea").reduce((sum, l) => sum + l.qty, 0);
  const weight = products.reduce((sum, l) => sum + l.product.weight * l.qty, 0);
  const onlyGifts = products.every((l) => l.product.kind === "gift");

  const discount = orderDiscount(order, discountable, teaUnits);
  const goods = discountable - discount;
  const shipping = shippingCost(region, goods, weight, onlyGifts || order.coupon === "FREESHIP");
  const tax = divRound((goods + shipping) * region.vat, 10000); // once, on the sum
  return { currency: region.currency, lines: byTotal(lines), subtotal, discount, shipping, tax, total: subtotal - discount + shipping + tax };
}
