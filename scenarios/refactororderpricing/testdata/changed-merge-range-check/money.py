"""Integer cents, rounded half to even (finance's rule, PRC-88)."""


def div_round(a, b):
    q, r = divmod(a, b)
    if 2 * r > b or (2 * r == b and q % 2 == 1):
        q += 1
    return q


def percent_of(amount, pct):
    return div_round(amount * pct, 100)
