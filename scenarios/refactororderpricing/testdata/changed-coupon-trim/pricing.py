"""A quote for a validated order."""
from dataclasses import dataclass

from catalog import CATALOG, GIFT, TEA
from discounts import order_discount, volume_discount
from money import div_round


@dataclass
class Basket:
    discountable: int = 0  # line totals of everything but gift cards
    weight_g: int = 0
    teas: int = 0
    only_gifts: bool = True


def price_lines(order):
    basket = Basket()
    lines = []
    for sku, qty in order.lines:
        p = CATALOG[sku]
        gross = p.price * qty
        disc = volume_discount(p, qty, gross)
        lines.append({"sku": sku, "name": p.name, "qty": qty, "unit_price": p.price,
                      "discount": disc, "total": gross - disc})
        if p.kind != GIFT:
            basket.only_gifts = False
            basket.discountable += gross - disc
        if p.kind == TEA:
            basket.teas += qty
        basket.weight_g += p.weight_g * qty
    # highest total first; sorted() is stable, so equal totals keep their order
    return sorted(lines, key=lambda l: -l["total"]), basket


def shipping(order, basket, goods):
    if basket.only_gifts or order.coupon == "FREESHIP" or goods >= order.region.free_from:
        return 0
    extra = basket.weight_g - 1000
    return order.region.shipping + (100 * ((extra + 499) // 500) if extra > 0 else 0)


def quote(order):
    lines, basket = price_lines(order)
    subtotal = sum(l["total"] for l in lines)
    discount = order_discount(order, basket)
    goods = basket.discountable - discount
    ship = shipping(order, basket, goods)
    tax = div_round((goods + ship) * order.region.vat_basis_pts, 10000)
    return {"currency": order.region.currency, "lines": lines, "subtotal": subtotal, "discount": discount,
            "shipping": ship, "tax": tax, "total": subtotal - discount + ship + tax}
