"""The catalogue, prepared once per process and date: device variants (model x OS build) and the
weight tables every column is drawn from."""

from __future__ import annotations

import datetime
import functools
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from simulator import catalog as _catalog
from simulator.population.config import ANDROID, IOS

# --- catalogue, prepared once per process ----------------------------------------------------

_ANDROID_UA = (
    "Mozilla/5.0 (Linux; Android {release}; {model} Build/{build}; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/{chrome} Mobile Safari/537.36"
)
_IOS_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS {version} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
)
_IPAD_UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"


class NoDevicesOn(ValueError):
    """A simulated date with no device to draw: before the catalogue's first rows of a platform, or
    before the app's first release (a ValueError, so a caller that knows where the date came from
    can name that: generate's --start or time.start)."""


@dataclass(frozen=True, slots=True)
class _Variant:
    """One (model, OS build) combination: everything a device's model fixes."""

    platform: int
    model_index: int
    model: str
    os_version: str
    build: str
    fingerprint: str
    ext: str
    width: str
    height: str
    density: str
    #: User agent per WebView version (iOS: the same string, WKWebView names no browser version).
    user_agents: tuple[str, ...]
    #: The carrier the OS reports whatever the network ("--" on iOS 16.4+), or "" to draw one.
    carrier: str


@dataclass(frozen=True, slots=True)
class _Tables:
    cat: _catalog.Catalog
    countries: tuple[str, ...]
    variants: tuple[_Variant, ...]
    #: (2 * country + platform, variant) weights, with a uniform-share platform split applied later.
    variant_w: np.ndarray
    capacities: tuple[int, ...]
    storage_w: np.ndarray  # (variant, capacity)
    #: Per variant: the variant of the same model on its newest release (what an OS update installs).
    newest: tuple[int, ...]
    total_cg: np.ndarray  # (variant, capacity) -> storage the OS reports, in hundredths of a GB
    total_str: tuple[str, ...]  # the same, flat (variant * len(capacities) + capacity), as text
    chrome: tuple[str, ...]  # WebView versions available on the simulated date, oldest first
    webview_w: np.ndarray
    locales: tuple[str, ...]
    locale_w: np.ndarray  # (country, locale)
    carriers: tuple[str, ...]
    carrier_w: np.ndarray  # (country, carrier)
    region_w: np.ndarray  # (country, region)
    region_country: np.ndarray  # region -> country code
    range_w: np.ndarray  # (region, phone range)
    domains: tuple[str, ...]
    domain_w: np.ndarray


def _norm(w: np.ndarray) -> np.ndarray:
    return np.asarray(w, dtype=np.float64)


#: The simulated date a population is built for unless the caller gives one (journey.DEFAULT_START's day).
DEFAULT_DATE = datetime.date(2026, 1, 1)
#: A release reaches its snapshot share over this many days after it ships (staged rollouts, auto-update).
_ADOPTION_DAYS = 60.0
#: Each older WebView milestone is this much rarer than the next newer one (Play auto-updates every ~4 weeks).
_WEBVIEW_DECAY = 0.45
#: Android release -> the letter in OEM build names (Xiaomi, Motorola, OnePlus/OPPO/realme).
_RELEASE_LETTER = {10: "Q", 11: "R", 12: "S", 13: "T", 14: "U", 15: "V", 16: "W"}
#: Android release -> Xiaomi's MIUI/HyperOS version on it (MIUI 12 .. 14, HyperOS 1 = V816, 2, 3).
_XIAOMI_OS = {10: "V12.0", 11: "V12.5", 12: "V13.0", 13: "V14.0", 14: "V816.0", 15: "OS2.0", 16: "OS3.0"}
#: iOS 26's WebKit freezes the OS version its user agent names at 18_6 (as Safari 26 does).
_IOS_UA_FROZEN = (26, "18_6")


def _ramp(released: str, on: datetime.date) -> float:
    """Adoption of a release ``released`` by ``on``: 0 before it ships, rising to 1 over _ADOPTION_DAYS."""
    age = (on - datetime.date.fromisoformat(released)).days
    return 0.0 if age < 0 else min(1.0, (age + 1) / _ADOPTION_DAYS)


def _patch_letters(patch: str, released: str, on: datetime.date) -> str:
    """Samsung's firmware year and month letters (X = 2024, Y = 2025, A = January) for a patch month
    no later than the month before ``on`` and no earlier than the release."""
    y, m = (int(x) for x in patch.split("-"))
    cap = (on.year, on.month - 1) if on.month > 1 else (on.year - 1, 12)
    first = datetime.date.fromisoformat(released)
    y, m = max(min((y, m), cap), (first.year, first.month))
    return chr(ord("R") + y - 2018) + chr(ord("A") + m - 1)


def _storage_share(model: str) -> float:
    """The share of marketed storage the OS reports as total: the system partition differs by model
    (and GB vs GiB), 86-93 %; stable per model."""
    return 0.86 + 0.07 * (zlib.crc32(model.encode()) % 1000) / 1000


@functools.lru_cache(maxsize=8)
def _tables(on: datetime.date = DEFAULT_DATE) -> _Tables:
    cat = _catalog.load()
    countries = tuple(c.code for c in cat.countries)
    cidx = {c: i for i, c in enumerate(countries)}
    variants: list[_Variant] = []
    rows: list[np.ndarray] = []
    # WebView milestones that had shipped by ``on``, newest first get most devices.
    webviews = sorted(
        (w for w in cat.webviews if datetime.date.fromisoformat(w.released) <= on), key=lambda w: w.released
    ) or [min(cat.webviews, key=lambda w: w.released)]
    chrome = tuple(w.version for w in webviews)
    webview_w = np.array([[_WEBVIEW_DECAY ** (len(chrome) - 1 - k) for k in range(len(chrome))]])
    capacities = tuple(
        sorted(
            {g for m in cat.android_models for g in m.storage_gb} | {g for m in cat.ios_models for g in m.storage_gb}
        )
    )
    storage_rows: list[np.ndarray] = []
    totals: list[list[int]] = []

    def storage_row(options: tuple[int, ...], model: str) -> np.ndarray:
        row = np.zeros(len(capacities))
        for k, g in enumerate(options):  # most common first
            row[capacities.index(g)] = 1.0 / (k + 1)
        share = _storage_share(model)
        totals.append([int(g * share * 100) for g in capacities])
        return row

    def launched(date: str) -> bool:
        return datetime.date.fromisoformat(date) <= on

    releases = {r.release: r for r in cat.android_releases if not r.brand}
    for mi, m in enumerate(cat.android_models):
        builds: dict[int, _catalog.AndroidRelease] = {}
        for r in range(m.min_release, m.max_release + 1):
            own = cat.own_build(m, r)
            # A maker's own build (a Pixel's) runs on a phone only once published and not before the
            # phone went on sale: one published earlier never shipped to it.
            if own is not None and not (m.launched <= own.released and launched(own.released)):
                continue
            if _ramp(releases[r].released, on) > 0:
                builds[r] = own or releases[r]
        allowed = list(builds)
        if not allowed or not launched(m.launched):
            continue
        shares = np.array([releases[r].share * _ramp(releases[r].released, on) for r in allowed])
        shares /= shares.sum()
        brand_w = np.array([cat.android_brand_shares[m.manufacturer][c] for c in countries])
        for r, share in zip(allowed, shares, strict=True):
            generic = releases[r]
            rel = builds[r]
            n = int(share * 1000) % 9 + 1  # a stable update number per (model, release)
            incremental = m.incremental.format(
                n=n,
                L=_RELEASE_LETTER[r],
                sdk=generic.sdk,
                os=chr(ord("A") + r - m.min_release),
                ym=_patch_letters(generic.patch, generic.released, on),
                miui=_XIAOMI_OS[r],
            )
            fingerprint = f"{m.brand}/{m.product}/{m.device}:{r}/{rel.build_id}/{incremental}:user/release-keys"
            uas = tuple(_ANDROID_UA.format(release=r, model=m.model, build=rel.build_id, chrome=v) for v in chrome)
            variants.append(
                _Variant(
                    ANDROID,
                    mi,
                    m.model,
                    str(r),
                    rel.build_id,
                    fingerprint,
                    "a2",
                    str(m.width_px * 160 // m.dpi),
                    str(m.height_px * 160 // m.dpi),
                    str(m.dpi),
                    uas,
                    "",
                )
            )
            row = np.zeros(2 * len(countries))
            row[0::2] = brand_w * m.weight * share
            rows.append(row)
            storage_rows.append(storage_row(m.storage_gb, m.model))
    # Within a manufacturer, model weights are relative: normalise so brand shares hold per country.
    maker_total: dict[str, float] = {}
    for m in cat.android_models:
        if launched(m.launched):
            maker_total[m.manufacturer] = maker_total.get(m.manufacturer, 0.0) + m.weight
    for k, v in enumerate(variants):
        rows[k] /= maker_total[cat.android_models[v.model_index].manufacturer]
    offset = len(cat.android_models)
    for mi, im in enumerate(cat.ios_models):
        runs = [r for r in cat.ios_releases if r.runs_on(im)]
        # It ships with the newest release out the day it goes on sale: no older one ever runs on it.
        shipped = max((r.released for r in runs if r.released <= im.launched), default="")
        allowed_ios = [r for r in runs if r.released >= shipped and _ramp(r.released, on) > 0]
        if not allowed_ios or not launched(im.launched):
            continue
        weights = [r.share * _ramp(r.released, on) for r in allowed_ios]
        total = sum(weights)
        for rel_ios, w in zip(allowed_ios, weights, strict=True):
            share = w / total
            ua_version = _IOS_UA_FROZEN[1] if rel_ios.major >= _IOS_UA_FROZEN[0] else rel_ios.version.replace(".", "_")
            # iPadOS WKWebView requests desktop pages: a Mac's user agent, no iPad or OS version in it.
            ua = _IPAD_UA if im.identifier.startswith("iPad") else _IOS_UA.format(version=ua_version)
            # CTCarrier is deprecated since iOS 16.4 and answers "--" (no carrier name to read).
            modern = tuple(int(x) for x in rel_ios.version.split(".")[:2]) >= (16, 4)
            variants.append(
                _Variant(
                    IOS,
                    offset + mi,
                    im.identifier,
                    rel_ios.version,
                    rel_ios.build,
                    f"Apple/{im.identifier}/{rel_ios.version}/{rel_ios.build}",
                    "i2",
                    str(im.width_pt),
                    str(im.height_pt),
                    f"{im.scale}.0",
                    (ua,) * len(chrome),
                    "--" if modern else "",
                )
            )
            row = np.zeros(2 * len(countries))
            row[1::2] = im.weight * share
            rows.append(row)
            storage_rows.append(storage_row(im.storage_gb, im.identifier))
    firsts = {
        "Android": min(m.launched for m in cat.android_models),
        "iOS": min(r.released for r in cat.ios_releases),
    }
    platforms = {v.platform for v in variants}
    missing = [name for platform, name in ((ANDROID, "Android"), (IOS, "iOS")) if platform not in platforms]
    if missing:
        # Both named at once, with the first date that has both: a retry from one platform's first
        # date would only be refused for the other's.
        starts = ", ".join(f"its {name} rows start {firsts[name]}" for name in missing)
        raise NoDevicesOn(
            f"the catalogue has no {' or '.join(missing)} device on {on.isoformat()} ({starts}): simulate "
            f"{max(firsts.values())} or later or add older rows to simulator/catalog"
        )
    total_cg = np.array(totals, dtype=np.int64)  # (variant, capacity)

    def by_country(items: Sequence[Any], key: str) -> tuple[tuple[str, ...], np.ndarray]:
        names = tuple(dict.fromkeys(getattr(x, key) for x in items))
        w = np.zeros((len(countries), len(names)))
        for x in items:
            w[cidx[x.country], names.index(getattr(x, key))] += x.weight
        return names, w

    locales, locale_w = by_country(cat.locales, "locale")
    carriers, carrier_w = by_country(cat.carriers, "carrier")
    region_w = np.zeros((len(countries), len(cat.regions)))
    for k, reg in enumerate(cat.regions):
        region_w[cidx[reg.country], k] = reg.weight
    range_w = np.zeros((len(cat.regions), len(cat.phone_ranges)))
    for k, reg in enumerate(cat.regions):
        for j, pr in enumerate(cat.phone_ranges):
            if pr.country == reg.country and pr.area in ("", reg.area):
                range_w[k, j] = pr.count  # by size: people spread so numbers stay unique longest
    # Variants of a model are listed oldest release first: the last one is where updates lead.
    last_of: dict[int, int] = {}
    for k, v in enumerate(variants):
        last_of[v.model_index] = k
    return _Tables(
        cat=cat,
        countries=countries,
        variants=tuple(variants),
        newest=tuple(last_of[v.model_index] for v in variants),
        variant_w=np.array(rows).T.copy(),
        capacities=capacities,
        storage_w=np.array(storage_rows),
        total_cg=total_cg,
        total_str=tuple(f"{c / 100:.2f}" for c in total_cg.ravel()),
        chrome=chrome,
        webview_w=webview_w,
        locales=locales,
        locale_w=locale_w,
        carriers=carriers,
        carrier_w=carrier_w,
        region_w=region_w,
        region_country=np.array([cidx[r.country] for r in cat.regions], dtype=np.uint8),
        range_w=range_w,
        domains=tuple(d.domain for d in cat.email_domains),
        domain_w=np.array([[d.weight for d in cat.email_domains]]),
    )
