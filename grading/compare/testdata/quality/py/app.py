"""A measurement fixture; quality_test.go counts by hand.

if and for inside a docstring do not count.
"""
import json


def price(qty, coupon=None):
    # if in a comment does not count
    total = qty * 100
    if qty > 10 and coupon:
        total -= 5
    elif qty < 0:
        total = 0
    return total


class Handler:
    def do_GET(self):
        for x in [1, 2]:
            if x == 2 or x == 3:
                return "if"
        return json.dumps({})
