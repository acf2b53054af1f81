"""The shop's products and regions."""
from dataclasses import dataclass

TEA, WARE, GIFT = "tea", "ware", "gift"


@dataclass(frozen=True)
class Product:
    name: str
    price: int  # cents, tax excluded
    weight_g: int
    kind: str


@dataclass(frozen=True)
class Region:
    currency: str
    shipping: int  # base shipping, cents
    free_from: int  # goods value from which shipping is free
    vat_basis_pts: int  # 2000 = 20 %


CATALOG = {
    "TEA-GREEN": Product("Green tea 100 g", 450, 120, TEA),
    "TEA-BLACK": Product("Black tea 100 g", 395, 120, TEA),
    "TEA-OOLONG": Product("Oolong 100 g", 795, 120, TEA),
    "MUG-CLAY": Product("Clay mug", 1250, 400, WARE),
    "POT-IRON": Product("Cast-iron teapot", 4999, 1600, WARE),
    "FILTER-100": Product("Paper filters x100", 299, 80, WARE),
    "GIFT-25": Product("Gift card 25", 2500, 0, GIFT),
}

REGIONS = {
    "EU": Region("EUR", 495, 5000, 2000),
    "UK": Region("GBP", 595, 4500, 2000),
    "US": Region("USD", 895, 7500, 0),
    "CH": Region("CHF", 1295, 10000, 810),
}

DEFAULT_REGION = "EU"
