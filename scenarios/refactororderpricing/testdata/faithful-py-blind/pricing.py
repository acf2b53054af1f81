"""Quote pricing as data plus a pipeline of small pure steps.

Catalogue, regions, volume tiers and coupons are tables; `validate` turns a decoded body into
an `Order` or raises `Reject` with the exact status and message of the old service; `quote`
prices an `Order`. Nothing here knows about HTTP.
"""

from dataclasses import dataclass
from fractions import Fraction

# --- reference data -------------------------------------------------------------------------

TEA, WARE, GIFT = "tea", "ware", "gift"


@dataclass(frozen=True)
class Product:
    name: str
    price: int
    weight: int
    kind: str


CATALOG = {
    "TEA-GREEN": Product("Green tea 100 g", 450, 120, TEA),
    "TEA-BLACK": Product("Black tea 100 g", 395, 120, TEA),
    "TEA-OOLONG": Product("Oolong 100 g", 795, 120, TEA),
    "MUG-CLAY": Product("Clay mug", 1250, 400, WARE),
    "POT-IRON": Product("Cast-iron teapot", 4999, 1600, WARE),
    "FILTER-100": Product("Paper filters x100", 299, 80, WARE),
    "GIFT-25": Product("Gift card 25", 2500, 0, GIFT),
}


@dataclass(frozen=True)
class Region:
    currency: str
    shipping: int
    free_from: int
    vat_bp: int  # VAT in basis points (1/100 of a percent)


REGIONS = {
    "EU": Region("EUR", 495, 5000, 2000),
    "UK": Region("GBP", 595, 4500, 2000),
    "US": Region("USD", 895, 7500, 0),
    "CH": Region("CHF", 1295, 10000, 810),
}
DEFAULT_REGION = "EU"

# (minimum quantity, percent off), the largest threshold first.
VOLUME_DISCOUNTS = ((50, 10), (10, 5))

TIERS = {"": 0, "standard": 0, "gold": 3}  # tier -> percent off the discountable amount

BASE_WEIGHT = 1000      # grams included in the region's shipping rate
WEIGHT_STEP = 500       # every started step above BASE_WEIGHT costs WEIGHT_STEP_PRICE
WEIGHT_STEP_PRICE = 100
MAX_QTY = 999

# --- rounding ---------------------------------------------------------------------------------


def half_even(numerator, denominator):
    """numerator / denominator rounded half to even, exactly (finance ticket PRC-88)."""
    return round(Fraction(numerator, denominator))


def percent_of(amount, pct):
    return half_even(amount * pct, 100)


def basis_points_of(amount, bp):
    return half_even(amount * bp, 10000)


# --- coupons: each computes its discount from the basket; FREESHIP waives shipping ---------


@dataclass(frozen=True)
class Basket:
    discountable: int  # line totals without gift cards
    after_tier: int    # discountable minus the tier discount
    tea_units: int


def _welcome10(b):
    return percent_of(b.after_tier, 10) if b.discountable >= 2000 else 0


def _tea5(b):
    return min(500, b.after_tier) if b.tea_units >= 3 else 0


COUPONS = {
    "WELCOME10": (_welcome10, False),
    "TEA5": (_tea5, False),
    "FREESHIP": (lambda b: 0, True),
}
NO_COUPON = (lambda b: 0, False)

# --- validation -------------------------------------------------------------------------------


class Reject(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Order:
    cart: dict  # sku -> merged qty, in the order the products were first asked for
    tier: str
    region: str
    coupon: str


def _invalid_body():
    return Reject(400, "invalid body")


def _optional(value, kind):
    return value is None or isinstance(value, kind)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _check_shapes(body):
    """The `invalid body` rule: every field, when present and not null, has its type."""
    if not isinstance(body, dict):
        raise _invalid_body()
    if not all(_optional(body.get(k), str) for k in ("region", "coupon", "tier")):
        raise _invalid_body()
    items = body.get("items")
    if not _optional(items, list):
        raise _invalid_body()
    for it in items or ():
        if not (isinstance(it, dict) and _optional(it.get("sku"), str)
                and (it.get("qty") is None or _is_int(it.get("qty")))):
            raise _invalid_body()


def _merge(items):
    qty_error = Reject(400, "qty must be an integer from 1 to %d" % MAX_QTY)
    cart = {}
    for it in items:
        qty = it.get("qty") or 0
        if not 1 <= qty <= MAX_QTY:
            raise qty_error
        sku = it.get("sku") or ""
        cart[sku] = cart.get(sku, 0) + qty
    if any(q > MAX_QTY for q in cart.values()):
        raise qty_error
    return cart


def validate(body):
    """A decoded JSON body -> Order, or Reject: every 400 before any 422, each group in order."""
    _check_shapes(body)
    items = body.get("items")
    if not items:
        raise Reject(400, "items must be a non-empty list")
    cart = _merge(items)
    tier = body.get("tier") or ""
    if tier not in TIERS:
        raise Reject(400, "tier must be standard or gold")
    unknown = next((sku for sku in cart if sku not in CATALOG), None)
    if unknown is not None:
        raise Reject(422, "unknown sku: " + unknown)
    region = body.get("region") or DEFAULT_REGION
    if region not in REGIONS:
        raise Reject(422, "unsupported region: " + region)
    coupon = (body.get("coupon") or "").strip().upper()
    if coupon and coupon not in COUPONS:
        raise Reject(422, "unknown coupon: " + coupon)
    return Order(cart, tier, region, coupon)

# --- pricing ----------------------------------------------------------------------------------


def volume_discount(product, qty, gross):
    if product.kind == GIFT:
        return 0
    pct = next((p for minimum, p in VOLUME_DISCOUNTS if qty >= minimum), 0)
    return percent_of(gross, pct) if pct else 0


def price_line(sku, qty):
    product = CATALOG[sku]
    gross = product.price * qty
    discount = volume_discount(product, qty, gross)
    return {"sku": sku, "name": product.name, "qty": qty, "unit_price": product.price,
            "discount": discount, "total": gross - discount}


def shipping_for(region, goods, weight, free):
    if free or goods >= region.free_from:
        return 0
    extra = max(0, weight - BASE_WEIGHT)
    started_steps = -(-extra // WEIGHT_STEP)
    return region.shipping + started_steps * WEIGHT_STEP_PRICE


def quote(order):
    region = REGIONS[order.region]
    products = [(CATALOG[sku], qty) for sku, qty in order.cart.items()]
    priced = [price_line(sku, qty) for sku, qty in order.cart.items()]
    lines = sorted(priced, key=lambda line: -line["total"])  # stable: ties keep request order

    subtotal = sum(line["total"] for line in priced)
    discountable = sum(line["total"] for line, (p, _) in zip(priced, products) if p.kind != GIFT)
    tea_units = sum(qty for p, qty in products if p.kind == TEA)
    weight = sum(p.weight * qty for p, qty in products)
    only_gifts = all(p.kind == GIFT for p, _ in products)

    tier_discount = percent_of(discountable, TIERS[order.tier]) if TIERS[order.tier] else 0
    coupon_discount, free_shipping = COUPONS.get(order.coupon, NO_COUPON)
    basket = Basket(discountable, discountable - tier_discount, tea_units)
    discount = tier_discount + coupon_discount(basket)

    goods = discountable - discount
    shipping = shipping_for(region, goods, weight, only_gifts or free_shipping)
    tax = basis_points_of(goods + shipping, region.vat_bp)
    return {"currency": region.currency, "lines": lines, "subtotal": subtotal,
            "discount": discount, "shipping": shipping, "tax": tax,
            "total": subtotal - discount + shipping + tax}
