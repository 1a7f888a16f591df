"""The realism catalogue: device models, OS builds, countries, carriers, locales, regions, phone ranges.

Every figure lives in a CSV table beside this file whose ``#`` header lines say where it comes from;
this module only reads them into frozen dataclasses (``load()``, cached). Add a phone model or a
country by adding rows, not code. ``check()`` reports rows that disagree across tables.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import functools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar, get_type_hints

__all__ = [
    "AndroidModel",
    "AndroidRelease",
    "Carrier",
    "Catalog",
    "Country",
    "EmailDomain",
    "IOSModel",
    "IOSRelease",
    "Locale",
    "PhoneRange",
    "Region",
    "WebView",
    "check",
    "load",
    "newest",
    "read_table",
    "staleness",
    "usd_rates",
]

#: The tables ship in the package (package data): a wheel install reads them from site-packages.
DIRECTORY = Path(str(resources.files(__name__)))


@dataclass(frozen=True, slots=True)
class Country:
    code: str
    name: str
    currency: str
    weight: float
    ios_share: float
    faker_locale: str
    #: Faker method that yields street-like names for the locale (``street_name``; ``town`` for ja_JP).
    street_source: str
    address1: str
    address2: str


@dataclass(frozen=True, slots=True)
class Locale:
    country: str
    locale: str
    weight: float


@dataclass(frozen=True, slots=True)
class Carrier:
    country: str
    carrier: str
    weight: float


@dataclass(frozen=True, slots=True)
class Region:
    country: str
    state: str
    city: str
    timezone: str
    #: Postcode template: ``#`` a digit, ``?`` a letter, anything else kept.
    postcode: str
    #: Telephone area joining a region to its fictional number ranges ("" = none).
    area: str
    weight: float


@dataclass(frozen=True, slots=True)
class PhoneRange:
    country: str
    area: str
    prefix: str
    digits: int
    first: int
    count: int
    kind: str
    why: str


@dataclass(frozen=True, slots=True)
class EmailDomain:
    domain: str
    weight: float


@dataclass(frozen=True, slots=True)
class AndroidModel:
    manufacturer: str
    brand: str
    model: str
    device: str
    product: str
    width_px: int
    height_px: int
    dpi: int
    min_release: int
    max_release: int
    storage: str
    weight: float
    incremental: str
    #: ISO date the model went on sale.
    launched: str

    @property
    def storage_gb(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.storage.split("|"))


@dataclass(frozen=True, slots=True)
class AndroidRelease:
    release: int
    sdk: int
    brand: str
    #: Build.DEVICE of the one Pixel this build is for ("" = every device of the brand, or any brand).
    device: str
    build_id: str
    share: float
    #: ISO date this build first shipped.
    released: str
    #: Security-patch month (YYYY-MM) of OEM firmware on this release.
    patch: str


@dataclass(frozen=True, slots=True)
class WebView:
    version: str
    #: ISO date of the milestone's stable release.
    released: str


@dataclass(frozen=True, slots=True)
class IOSModel:
    identifier: str
    name: str
    width_pt: int
    height_pt: int
    scale: int
    min_ios: int
    max_ios: int
    storage: str
    weight: float
    #: ISO date the model went on sale.
    launched: str

    @property
    def storage_gb(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.storage.split("|"))


@dataclass(frozen=True, slots=True)
class IOSRelease:
    version: str
    major: int
    build: str
    #: ISO date Apple released it.
    released: str
    #: 1: a security train (15.8.x, 16.7.x) shipped only to models whose last major it is.
    legacy: int
    share: float

    def runs_on(self, model: IOSModel) -> bool:
        """Whether Apple shipped this release to ``model``: one of its majors, and a legacy train only
        where that major is the model's last."""
        if not model.min_ios <= self.major <= model.max_ios:
            return False
        return not self.legacy or self.major == model.max_ios


@dataclass(frozen=True, slots=True)
class Catalog:
    countries: tuple[Country, ...]
    locales: tuple[Locale, ...]
    carriers: tuple[Carrier, ...]
    regions: tuple[Region, ...]
    phone_ranges: tuple[PhoneRange, ...]
    email_domains: tuple[EmailDomain, ...]
    android_models: tuple[AndroidModel, ...]
    #: manufacturer -> country code -> share of the country's Android phones.
    android_brand_shares: dict[str, dict[str, float]]
    android_releases: tuple[AndroidRelease, ...]
    webviews: tuple[WebView, ...]
    ios_models: tuple[IOSModel, ...]
    ios_releases: tuple[IOSRelease, ...]

    def own_build(self, model: AndroidModel, release: int) -> AndroidRelease | None:
        """The maker's own build of ``release`` for ``model`` (a Pixel's: its device's row, else its
        brand's), or None where the maker ships the AOSP build id (every brand but Google)."""
        rows = [r for r in self.android_releases if r.release == release and r.brand == model.brand]
        return next((r for r in rows if r.device == model.device), None) or next(
            (r for r in rows if not r.device), None
        )

    def country(self, code: str) -> Country:
        for c in self.countries:
            if c.code == code:
                return c
        known = ", ".join(c.code for c in self.countries)
        raise KeyError(f"unknown country {code!r}: the catalogue has {known} (add rows to countries.csv)")


def read_table(name: str) -> list[dict[str, str]]:
    """Rows of ``<name>.csv`` as dicts; lines starting with ``#`` (the provenance header) are skipped."""
    path = DIRECTORY / f"{name}.csv"
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


T = TypeVar("T")


def _rows(name: str, cls: type[T]) -> tuple[T, ...]:
    hints = get_type_hints(cls)
    out = []
    for lineno, row in enumerate(read_table(name), start=1):
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]  # every table's row type is a dataclass
            raw = row.get(f.name)
            if raw is None:
                raise ValueError(f"{name}.csv: column {f.name!r} is missing (data row {lineno})")
            kind = hints[f.name]
            try:
                kwargs[f.name] = kind(raw) if kind in (int, float) else raw
            except ValueError:
                raise ValueError(f"{name}.csv data row {lineno}: {f.name}={raw!r} is not {kind.__name__}") from None
        out.append(cls(**kwargs))
    return tuple(out)


@functools.cache
def load() -> Catalog:
    """The whole catalogue, read once per process."""
    shares: dict[str, dict[str, float]] = {}
    for row in read_table("android_brand_shares"):
        maker = row.pop("manufacturer")
        shares[maker] = {k: float(v) for k, v in row.items()}
    return Catalog(
        countries=_rows("countries", Country),
        locales=_rows("locales", Locale),
        carriers=_rows("carriers", Carrier),
        regions=_rows("regions", Region),
        phone_ranges=_rows("phone_ranges", PhoneRange),
        email_domains=_rows("email_domains", EmailDomain),
        android_models=_rows("android_models", AndroidModel),
        android_brand_shares=shares,
        android_releases=_rows("android_releases", AndroidRelease),
        webviews=_rows("webview", WebView),
        ios_models=_rows("ios_models", IOSModel),
        ios_releases=_rows("ios_releases", IOSRelease),
    )


@functools.cache
def product_categories() -> tuple[str, ...]:
    """The product catalogue's categories (``products.csv``), sorted: what a journey state's
    ``categories`` may name."""
    return tuple(sorted({row["category"] for row in read_table("products")}))


@functools.cache
def usd_rates() -> dict[str, float]:
    """Local currency units per US dollar (``usd_rates.csv``, whose header says where they come from)."""
    out: dict[str, float] = {}
    for lineno, row in enumerate(read_table("usd_rates"), start=1):
        try:
            rate = float(row["per_usd"])
        except ValueError:
            raise ValueError(f"usd_rates.csv data row {lineno}: per_usd={row['per_usd']!r} is not a number") from None
        if not rate > 0:
            raise ValueError(f"usd_rates.csv data row {lineno}: per_usd={row['per_usd']!r} must be above 0")
        out[row["currency"]] = rate
    return out


def check(cat: Catalog | None = None) -> list[str]:
    """Problems across tables (empty when consistent): what a person adding rows gets wrong first."""
    cat = cat or load()
    problems: list[str] = []
    codes = {c.code for c in cat.countries}
    for table, rows in (("locales", cat.locales), ("carriers", cat.carriers), ("regions", cat.regions)):
        have = {r.country for r in rows}
        problems += [f"{table}.csv has no row for country {c}" for c in sorted(codes - have)]
        problems += [f"{table}.csv names unknown country {c}" for c in sorted(have - codes)]
    for loc in cat.locales:
        if loc.locale.rsplit("-", 1)[-1] != loc.country:
            problems.append(f"locales.csv: {loc.locale} does not name its country {loc.country}")
    for r in cat.regions:
        ranges = [p for p in cat.phone_ranges if p.country == r.country and p.area in ("", r.area)]
        if not ranges:
            problems.append(f"phone_ranges.csv: no range serves {r.city}, {r.country} (area {r.area!r})")
    for p in cat.phone_ranges:
        if len(str(p.first + p.count - 1)) > p.digits:
            problems.append(f"phone_ranges.csv: {p.prefix} range does not fit in {p.digits} digits")
    makers = {m.manufacturer for m in cat.android_models}
    for maker in sorted(makers - cat.android_brand_shares.keys()):
        problems.append(f"android_brand_shares.csv has no row for {maker}")
    for maker, by_country in cat.android_brand_shares.items():
        for c in sorted(codes - by_country.keys()):
            problems.append(f"android_brand_shares.csv: {maker} lacks a column for {c}")
    releases = {r.release for r in cat.android_releases if not r.brand}
    for am in cat.android_models:
        missing = set(range(am.min_release, am.max_release + 1)) - releases
        if missing:
            problems.append(f"android_releases.csv lacks release(s) {sorted(missing)} needed by {am.model}")
        own = cat.own_build(am, am.min_release)
        if own is not None and own.released < am.launched:
            problems.append(
                f"android_releases.csv: {am.model} went on sale {am.launched} on Android {am.min_release}, after "
                f"{own.build_id} ({own.released}): add the build it shipped with (a row for device {am.device})"
            )
    for im in cat.ios_models:
        if not any(r.runs_on(im) for r in cat.ios_releases):
            problems.append(f"ios_releases.csv has no release {im.min_ios}..{im.max_ios} for {im.name}")
    return problems


def newest(cat: Catalog | None = None) -> dict[str, datetime.date]:
    """The newest entry of each dated table: how current the catalogue is."""
    cat = cat or load()
    day = datetime.date.fromisoformat
    return {
        "android_models": max(day(m.launched) for m in cat.android_models),
        "android_releases": max(day(r.released) for r in cat.android_releases),
        "webview": max(day(w.released) for w in cat.webviews),
        "ios_models": max(day(m.launched) for m in cat.ios_models),
        "ios_releases": max(day(r.released) for r in cat.ios_releases),
    }


#: How far the newest entry of a dated table may lag the simulated date.
MAX_LAG = datetime.timedelta(days=365)


def staleness(on: datetime.date, cat: Catalog | None = None) -> list[str]:
    """Tables whose newest entry is more than ``MAX_LAG`` older than ``on`` (empty: current enough)."""
    return [
        f"{table}.csv: newest entry {d.isoformat()} is more than a year before the simulated date {on.isoformat()}; "
        "add the releases since (each table's header names its sources)"
        for table, d in newest(cat).items()
        if on - d > MAX_LAG
    ]
