// A quote is built by a fixed pipeline of steps, each reading and writing one Ticket.
import { CATALOG, GOLD_PERCENT, Region, REGIONS, VOLUME_TIERS } from "./catalog";
import { percentOf } from "./money";
import { Order } from "./request";

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

// Ticket is the work in progress: what the steps have found so far.
class Ticket {
  readonly region: Region;
  lines: QuoteLine[] = [];
  subtotal = 0;
  discountable = 0; // line totals without gift cards
  teaUnits = 0;
  weight = 0;
  onlyGifts = true;
  gold = 0;
  coupon = 0;
  shipping = 0;
  tax = 0;

  constructor(readonly order: Order) {
    this.region = REGIONS.get(order.region)!;
  }

  get discount(): number {
    return this.gold + this.coupon;
  }

  get goods(): number {
    return this.discountable - this.discount;
  }
}

interface Step {
  apply(t: Ticket): void;
}

class PriceLines implements Step {
  apply(t: Ticket): void {
    for (const { sku, qty } of t.order.lines) {
      const p = CATALOG.get(sku)!;
      const gross = p.price * qty;
      let discount = 0;
      if (p.kind !== "gift") {
        const tier = VOLUME_TIERS.find((v) => qty >= v.from);
        discount = tier ? percentOf(gross, tier.percent, 100) : 0;
        t.discountable += gross - discount;
        t.onlyGifts = false;
      }
      if (p.kind === "tea") t.teaUnits += qty;
      t.weight += p.weight * qty;
      t.subtotal += gross - discount;
      t.lines.push({ sku, name: p.name, qty, unit_price: p.price, discount, total: gross - discount });
    }
  }
}

class OrderLines implements Step {
  apply(t: Ticket): void {
    // Array.prototype.sort is stable (ES2019): equal totals keep the order they were asked in.
    t.lines.sort((a, b) => b.total - a.total);
  }
}

class GoldTier implements Step {
  apply(t: Ticket): void {
    if (t.order.gold) t.gold = percentOf(t.discountable, GOLD_PERCENT, 100);
  }
}

class ApplyCoupon implements Step {
  apply(t: Ticket): void {
    const left = t.discountable - t.gold;
    switch (t.order.coupon) {
      case "WELCOME10":
        if (t.discountable >= 2000) t.coupon = percentOf(left, 10, 100);
        break;
      case "TEA5":
        if (t.teaUnits >= 3) t.coupon = Math.min(500, left);
        break;
    }
  }
}

class Shipping implements Step {
  apply(t: Ticket): void {
    const free = t.onlyGifts || t.order.coupon === "FREESHIP" || t.goods >= t.region.freeFrom;
    if (free) {
      t.shipping = 0;
      return;
    }
    const over = Math.max(0, t.weight - 1000);
    t.shipping = t.region.shipping + 100 * Math.ceil(over / 500);
  }
}

class Vat implements Step {
  apply(t: Ticket): void {
    t.tax = percentOf(t.goods + t.shipping, t.region.vatBasisPoints, 10000);
  }
}

const PIPELINE: Step[] = [new PriceLines(), new OrderLines(), new GoldTier(), new ApplyCoupon(), new Shipping(), new Vat()];

export function price(order: Order): Quote {
  const t = new Ticket(order);
  for (const step of PIPELINE) step.apply(t);
  return {
    currency: t.region.currency,
    lines: t.lines,
    subtotal: t.subtotal,
    discount: t.discount,
    shipping: t.shipping,
    tax: t.tax,
    total: t.subtotal - t.discount + t.shipping + t.tax,
  };
}
