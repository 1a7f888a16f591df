"""What a journey buys and pays: the product catalogue, prices in a currency at its price points, tax.

Data from ``catalog/products.csv``, ``price_points.csv`` and ``tax_rates.csv``; the journey engine
(``simulator.journey``) decides what a device buys, this module what it costs.
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulator import catalog

__all__ = [
    "CATALOG",
    "ZERO_DECIMAL",
    "Prices",
    "Product",
    "cart_line",
    "cart_subtotal",
    "load_products",
    "price_points",
    "round_money",
    "tax_rates",
]

CATALOG = Path(__file__).resolve().parent / "catalog" / "products.csv"
#: ISO 4217 currencies with no minor unit (as apps display them).
ZERO_DECIMAL = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "IDR", "HUF", "TWD", "UGX", "PYG"})


@dataclass(frozen=True, slots=True)
class Product:
    product_id: str
    name: str
    category: str
    price_usd: float

    @property
    def search_term(self) -> str:
        """What a user types to find it: the name without its colour, in lower case."""
        return self.name.split(" - ")[0].lower()


@functools.cache
def load_products(path: Path = CATALOG) -> tuple[Product, ...]:
    """The seeded product catalogue (``catalog/products.csv``; prices in USD)."""
    with path.open(newline="", encoding="utf-8") as f:
        return tuple(
            Product(r["product_id"], r["product_name"], r["category"], float(r["price_usd"]))
            for r in csv.DictReader(line for line in f if not line.startswith("#"))
        )


@dataclass(slots=True)
class Prices:
    """The catalogue in one currency: product dicts (quantity 1, shared) and prices."""

    currency: str
    decimals: int
    rate: float
    items: list[dict[str, Any]]
    prices: list[float]
    #: The currency's price points: (from, step, drop) tiers, ascending (catalog/price_points.csv).
    points: tuple[tuple[float, float, float], ...] = ()

    def money(self, usd: float) -> float:
        """``usd`` in this currency at its consumer price points (49.99, 3,599, 2,980, 199,90)."""
        x = usd * self.rate
        for low, step, drop in reversed(self.points):
            if x >= low:
                x = max(step, round(x / step) * step) - drop
                break
        return round(x, self.decimals) if self.decimals else float(round(x))


@functools.cache
def price_points() -> dict[str, tuple[tuple[float, float, float], ...]]:
    tiers: dict[str, list[tuple[float, float, float]]] = {}
    for row in catalog.read_table("price_points"):
        tiers.setdefault(row["currency"], []).append((float(row["from"]), float(row["step"]), float(row["drop"])))
    return {c: tuple(sorted(t)) for c, t in tiers.items()}


@functools.cache
def tax_rates() -> dict[tuple[str, str], tuple[float, bool]]:
    """(country, state or "") -> (rate, whether shelf prices include it) (catalog/tax_rates.csv)."""
    return {
        (row["country"], row["state"]): (float(row["rate"]), row["inclusive"] == "1")
        for row in catalog.read_table("tax_rates")
    }


def round_money(x: float, decimals: int) -> float:
    return round(x, decimals) if decimals else float(round(x))


def cart_line(prices: Prices, k: int, qty: int) -> dict[str, Any]:
    item = prices.items[k]
    return item if qty == 1 else {**item, "product_quantity": qty}


def cart_subtotal(prices: Prices, cart: dict[int, int]) -> float:
    return round_money(sum(prices.prices[k] * q for k, q in cart.items()), prices.decimals)
