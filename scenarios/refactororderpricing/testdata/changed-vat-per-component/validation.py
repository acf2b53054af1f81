"""Turns a request body into an order, or refuses it: every 400 before any 422."""
from dataclasses import dataclass

from catalog import CATALOG, DEFAULT_REGION, REGIONS
from discounts import COUPONS


class Refused(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Order:
    lines: list  # [(sku, qty)], merged, in the order first asked for
    region: object
    coupon: str
    gold: bool


def _bad(msg):
    return Refused(400, msg)


def check_types(body):
    if not isinstance(body, dict):
        raise _bad("invalid body")
    for key in ("region", "coupon", "tier"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise _bad("invalid body")
    items = body.get("items")
    if items is not None and not isinstance(items, list):
        raise _bad("invalid body")
    for it in items or []:
        if not isinstance(it, dict):
            raise _bad("invalid body")
        if it.get("sku") is not None and not isinstance(it["sku"], str):
            raise _bad("invalid body")
        qty = it.get("qty")
        if qty is not None and (isinstance(qty, bool) or not isinstance(qty, int)):
            raise _bad("invalid body")


def merge_lines(items):
    merged = {}  # dicts keep insertion order: the first position wins
    for it in items:
        qty = it.get("qty") or 0
        if not 1 <= qty <= 999:
            raise _bad("qty must be an integer from 1 to 999")
        sku = it.get("sku") or ""
        merged[sku] = merged.get(sku, 0) + qty
    if any(q > 999 for q in merged.values()):
        raise _bad("qty must be an integer from 1 to 999")
    return list(merged.items())


def normalise_coupon(raw):
    return (raw or "").strip().upper()


def validate(body):
    check_types(body)
    if not body.get("items"):
        raise _bad("items must be a non-empty list")
    lines = merge_lines(body["items"])
    tier = body.get("tier") or ""
    if tier not in ("", "standard", "gold"):
        raise _bad("tier must be standard or gold")
    for sku, _ in lines:
        if sku not in CATALOG:
            raise Refused(422, "unknown sku: " + sku)
    code = body.get("region") or DEFAULT_REGION
    if code not in REGIONS:
        raise Refused(422, "unsupported region: " + code)
    coupon = normalise_coupon(body.get("coupon"))
    if coupon and coupon not in COUPONS:
        raise Refused(422, "unknown coupon: " + coupon)
    return Order(lines, REGIONS[code], coupon, tier == "gold")
