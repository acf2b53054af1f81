"""Volume discounts per line, the gold tier and coupons per order."""
from money import percent_of


def volume_discount(product, qty, gross):
    if product.kind == "gift":
        return 0
    if qty >= 50:
        return percent_of(gross, 10)
    if qty >= 10:
        return percent_of(gross, 5)
    return 0


def _welcome10(basket, after_gold):
    # the threshold is on goods before the gold discount
    return percent_of(after_gold, 10) if basket.discountable >= 2000 else 0


def _tea5(basket, after_gold):
    return min(500, after_gold) if basket.teas >= 3 else 0


COUPONS = {
    "WELCOME10": _welcome10,
    "TEA5": _tea5,
    "FREESHIP": lambda basket, after_gold: 0,  # see shipping
}


def order_discount(order, basket):
    """Gold's 3 % first, then the coupon on what is left."""
    gold = percent_of(basket.discountable, 3) if order.gold else 0
    coupon = COUPONS.get(order.coupon)
    return gold + (coupon(basket, basket.discountable - gold) if coupon else 0)
