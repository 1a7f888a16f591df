"""Synthetic device populations (issue #3): columnar, seeded, consistent, millions strong.

``Population.build(config=..., app=..., seed=...)`` draws every column of N devices in bulk from ONE
``numpy.random.default_rng(seed)``, in a fixed order, so a device's fields depend only on the seed,
the configuration and its global index; ``shard(index, count)`` only slices, so a distributed run
plays exactly the devices one process would. Faker, seeded per locale, builds small vocabularies
(names, streets) once; numpy samples indices into them. The population holds categorical codes and
raw UUID bytes (about 120 bytes a device), never dicts: ``device(i)`` and ``person(i)`` build the
dicts the payload builders need on demand, in a few microseconds (``make bench``: bench_population).

Consistency is by construction: a device's variant is a (model, OS build) row of the catalogue, so
the model fixes its screen, density, fingerprint and OS range, and its WebView user agent is
derived from the same row; locale, carrier and currency are drawn given the country, time zone,
postcode and phone range given the person's city. Synthetic people are never real: emails only on
reserved domains (RFC 2606/6761), phones only from fiction or unassignable ranges
(``catalog/phone_ranges.csv``), so a load test against a real account can never reach anyone.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime
import functools
import math
import struct
import unicodedata
import zlib
from binascii import b2a_base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import numpy as np

from simulator import catalog as _catalog
from simulator import identity
from simulator.identity import ZERO_AD_ID
from simulator.payloads import Device, Person

__all__ = [
    "PLATFORMS",
    "AppConfig",
    "Population",
    "PopulationConfig",
    "Release",
]

#: Platform codes of ``Population.platform``.
PLATFORMS: tuple[Literal["android"], Literal["ios"]] = ("android", "ios")
ANDROID, IOS = 0, 1
GENDERS: tuple[str, str, str] = ("male", "female", "other")


@dataclass(frozen=True, slots=True)
class Release:
    """One app release: ``version`` is the name users see (``3.4.1``), ``build`` the build number."""

    version: str
    build: int
    #: ISO date it reached the stores ("" = always available): a device installs only releases out by then.
    released: str = ""


@dataclass(frozen=True, slots=True)
class AppConfig:
    """The app under test, as its SDK reports it."""

    #: CustomerLabs application identifier: the ``id`` of every body and the prefix of every ``uid``.
    app_id: str = "loadsim-demo"
    #: Android application id (``appPackageName`` on Android).
    package_name: str = "com.example.shop"
    #: iOS bundle id (``appPackageName`` on iOS); the package name when empty.
    bundle_id: str = ""
    #: Release history, oldest first; newer releases are installed more often.
    releases: tuple[Release, ...] = (
        Release("3.1.0", 310, "2025-05-12"),
        Release("3.2.0", 320, "2025-07-07"),
        Release("3.2.1", 321, "2025-07-21"),
        Release("3.3.0", 330, "2025-09-15"),
        Release("3.4.0", 340, "2025-11-17"),
    )
    #: Between app id and UUID in a user id: "" as the reference says, "_" as its sample code does.
    user_id_separator: str = ""


@dataclass(frozen=True, slots=True)
class PopulationConfig:
    """Who the devices are. Every field has a realistic default; scenarios override them."""

    #: Number of devices.
    devices: int = 1000
    #: Country (ISO 3166-1 alpha-2) -> weight; empty means the catalogue's default mix.
    countries: Mapping[str, float] = field(default_factory=dict)
    #: Country -> share of iOS devices, overriding the catalogue's figure for that country.
    ios_share: Mapping[str, float] = field(default_factory=dict)
    #: Share of iOS users who allow tracking in the App Tracking Transparency prompt.
    att_opt_in: float = 0.35
    #: Share of Android users who limit ad tracking (their AAID is zeroed).
    android_limit_ad_tracking: float = 0.03
    #: Share of people who own two devices (both carry the same person: one email, two user ids).
    two_device_people: float = 0.05
    #: Each release is installed this many times as often as the next newer one (0 < decay <= 1).
    release_decay: float = 0.5


# --- catalogue, prepared once per process ----------------------------------------------------

_ANDROID_UA = (
    "Mozilla/5.0 (Linux; Android {release}; {model} Build/{build}; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/{chrome} Mobile Safari/537.36"
)
_IOS_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS {version} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
)
_IPAD_UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
#: Letters valid in every postcode template (UK inward code, Canadian FSA/LDU, Irish Eircode).
_POSTCODE_LETTERS = "AEHNPRTWXY"
#: A person's phone serial when their range had no number left for them: they have no phone.
NO_PHONE = 0xFFFF_FFFF
#: Stride scattering the serials of one phone range; prime, so coprime with every range size.
_PHONE_STRIDE = 7919
_FIRST_POOL, _STREET_POOL = 1200, 300


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
    by_brand = {(r.brand, r.release): r for r in cat.android_releases if r.brand}
    for mi, m in enumerate(cat.android_models):
        allowed = [r for r in range(m.min_release, m.max_release + 1) if _ramp(releases[r].released, on) > 0]
        if not allowed or not launched(m.launched):
            continue
        shares = np.array([releases[r].share * _ramp(releases[r].released, on) for r in allowed])
        shares /= shares.sum()
        brand_w = np.array([cat.android_brand_shares[m.manufacturer][c] for c in countries])
        for r, share in zip(allowed, shares, strict=True):
            generic = releases[r]
            rel = by_brand.get((m.brand, r), generic)
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
        allowed_ios = [r for r in cat.ios_releases if r.runs_on(im) and _ramp(r.released, on) > 0]
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
    for platform, name in ((ANDROID, "Android"), (IOS, "iOS")):
        if not any(v.platform == platform for v in variants):
            first = min(
                [r.released for r in cat.ios_releases] if platform == IOS else [m.launched for m in cat.android_models]
            )
            raise ValueError(
                f"the catalogue has no {name} device on {on.isoformat()} (its {name} rows start {first}): "
                "simulate a later date (loadsim generate --start) or add older rows to simulator/catalog"
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


# --- Faker vocabularies ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Vocabulary:
    #: Per gender (male, female): display names, their ASCII form for emails, weights.
    first: tuple[tuple[str, ...], tuple[str, ...]]
    first_ascii: tuple[tuple[str, ...], tuple[str, ...]]
    first_w: tuple[np.ndarray, np.ndarray]
    last: tuple[str, ...]
    last_ascii: tuple[str, ...]
    last_w: np.ndarray
    streets: tuple[str, ...]


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return "".join(ch for ch in folded if ch.isalnum())


def _weighted(words: Any) -> tuple[list[Any], np.ndarray]:
    if isinstance(words, Mapping):
        return list(words.keys()), np.array(list(words.values()), dtype=np.float64)
    words = list(words)
    return words, np.ones(len(words))


@functools.lru_cache(maxsize=64)
def _vocabulary(locale: str, street_source: str, seed: int) -> _Vocabulary:
    """Names (Faker's own weighted word lists) and a seeded pool of street names for one locale."""
    from faker import Faker  # import cost paid only when a population is built

    fake = Faker(locale)
    fake.seed_instance(seed)
    provider = next(p for p in fake.get_providers() if hasattr(p, "first_names_male"))
    firsts, firsts_ascii, firsts_w = [], [], []
    for gender in ("male", "female"):
        pairs = getattr(provider, f"first_name_{gender}_pairs", None)
        if pairs is not None:  # ja_JP: (kanji, kana, romaji) triples
            words, w = _weighted(pairs)
            display, ascii_ = [p[0] for p in words], [_ascii(p[2]) for p in words]
        else:
            words, w = _weighted(getattr(provider, f"first_names_{gender}"))
            display, ascii_ = words, [_ascii(x) for x in words]
        firsts.append(tuple(display[:_FIRST_POOL]))
        firsts_ascii.append(tuple(ascii_[:_FIRST_POOL]))
        firsts_w.append(w[:_FIRST_POOL])
    pairs = getattr(provider, "last_name_pairs", None)
    if pairs is not None:
        words, last_w = _weighted(pairs)
        last, last_ascii = [p[0] for p in words], [_ascii(p[2]) for p in words]
    else:
        words, last_w = _weighted(provider.last_names)
        last, last_ascii = words, [_ascii(x) for x in words]
    make_street = getattr(fake, street_source)
    streets = tuple(dict.fromkeys(make_street() for _ in range(_STREET_POOL)))
    return _Vocabulary(
        first=(firsts[0], firsts[1]),
        first_ascii=(firsts_ascii[0], firsts_ascii[1]),
        first_w=(firsts_w[0], firsts_w[1]),
        last=tuple(last),
        last_ascii=tuple(last_ascii),
        last_w=last_w,
        streets=streets,
    )


# --- bulk sampling -----------------------------------------------------------------------------


def _alias_tables(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walker/Vose alias tables for each row of ``weights``: O(1) draws, whatever the row length.

    (Binary search in cumulative sums costs ~80 ns a draw in rows of thousands, out of cache;
    two gathers from these small tables cost a few.)
    """
    w = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    rows, k = w.shape
    prob = np.zeros((rows, k))
    alias = np.zeros((rows, k), dtype=np.int64)
    for r in range(rows):
        total = w[r].sum()
        if total <= 0:
            continue  # a class nobody belongs to
        p = (w[r] * (k / total)).tolist()
        small = [i for i in range(k) if p[i] < 1.0]
        large = [i for i in range(k) if p[i] >= 1.0]
        pr, al = prob[r], alias[r]
        while small and large:
            s_, l_ = small.pop(), large.pop()
            pr[s_], al[s_] = p[s_], l_
            p[l_] += p[s_] - 1.0
            (small if p[l_] < 1.0 else large).append(l_)
        best = int(np.argmax(w[r]))
        for i in small + large:  # rounding leftovers: keep zero weights impossible
            pr[i], al[i] = (1.0, i) if w[r, i] > 0 else (0.0, best)
    return prob.ravel(), alias.ravel()


def _choose(rng: np.random.Generator, cls: np.ndarray | None, weights: np.ndarray, n: int) -> np.ndarray:
    """For each of ``n`` items, a column of ``weights`` drawn with the weights of row ``cls[i]``.

    One uniform per item: its integer part (times the row length) picks a column, its fraction
    decides between the column and its alias.
    """
    w = np.atleast_2d(weights)
    k = w.shape[1]
    prob, alias = _alias_tables(w)
    u = rng.random(n) * k
    col = np.minimum(u.astype(np.int64), k - 1)
    flat = col if cls is None else cls.astype(np.int64) * k + col
    picked: np.ndarray = np.where(u - col < prob[flat], col, alias[flat])
    return picked


def _fill_template(template: str, r: int) -> str:
    """A postcode from its template: ``#`` a digit, ``%`` a digit 1-9, ``?`` a letter, taken from ``r``."""
    out = []
    for ch in template:
        if ch == "#":
            r, d = divmod(r, 10)
            out.append(chr(48 + d))
        elif ch == "%":
            r, d = divmod(r, 9)
            out.append(chr(49 + d))
        elif ch == "?":
            r, d = divmod(r, len(_POSTCODE_LETTERS))
            out.append(_POSTCODE_LETTERS[d])
        else:
            out.append(ch)
    return "".join(out)


# One device is one row of ROW_BYTES bytes: 64 random bytes (advertising id, GA app instance id,
# Firebase installation id, first user UUID), then CODES little-endian uint16 codes. One row read
# and one struct unpack fetch a whole device (two numpy element reads would cost as much as the rest).
_R_AD, _R_GA, _R_FID, _R_USER = 0, 16, 32, 48
_RAW_BYTES = 64
(
    _C_COUNTRY,
    _C_PLATFORM,
    _C_VARIANT,
    _C_CHROME,
    _C_STORAGE,
    _C_LOCALE,
    _C_CARRIER,
    _C_RELEASE,
    _C_LAT,
    _C_REGION,
    _C_FREE_LO,
    _C_FREE_HI,
) = range(12)
_CODES = 12
ROW_BYTES = _RAW_BYTES + 2 * _CODES
_UNPACK_CODES = struct.Struct(f"<{_CODES}H").unpack_from
# The FCM token's tail: six 22-character chunks picked by the installation id's last six bytes
# from fixed tables (a hash per device would cost more than the rest of the device). Tokens stay
# distinct because they begin with the installation id.
_FCM_CHUNKS = tuple(
    tuple(
        b2a_base64(row.tobytes(), newline=False)[:22].translate(bytes.maketrans(b"+/", b"-_")).decode() for row in table
    )
    for table in np.random.default_rng(0xFC).integers(0, 256, size=(6, 256, 16), dtype=np.uint8)
)
_URLSAFE = bytes.maketrans(b"+/", b"-_")
_CENTS = tuple(f"{k:02d}" for k in range(100))  # a format spec costs more than the rest of the field


#: One person is one packed record (28 bytes): region, gender, age, name/street indices, flat number
#: (0 = no address line 2), email domain and style, phone range, then the 32-bit draws that make
#: the house number (and Japanese chome/ban/go), the postcode and the phone serial.
_PERSON_DTYPE = np.dtype(
    [
        ("region", "<u2"),
        ("gender", "u1"),
        ("age", "u1"),
        ("first", "<u2"),
        ("last", "<u2"),
        ("street", "<u2"),
        ("unit", "<u2"),
        ("domain", "u1"),
        ("style", "u1"),
        ("phone_range", "u1"),
        ("pad", "u1"),
        ("house", "<u4"),
        ("postcode", "<u4"),
        ("phone", "<u4"),
    ]
)
_UNPACK_PERSON = struct.Struct("<HBBHHHHBBBxIII").unpack_from
assert _PERSON_DTYPE.itemsize == struct.calcsize("<HBBHHHHBBBxIII")

_EMAIL_STYLES = ("{f}.{l}.{k}", "{f}{l}{k}", "{f}_{l}{k}", "{i}{l}.{k}")


class Population:
    """N devices as numpy columns; ``device(i)`` / ``person(i)`` materialise one on demand.

    Indices ``i`` are local to this (possibly sharded) population, ``0 <= i < len(self)``;
    ``device_index(i)`` is the device's index in the unsharded population, and the identity to seed
    any per-device random stream with.
    """

    __slots__ = (
        "_app",
        "_carriers",
        "_config",
        "_countries",
        "_currency",
        "_hot",
        "_locales",
        "_mv",
        "_n",
        "_ncap",
        "_nchrome",
        "_offset",
        "_on",
        "_people",
        "_person",
        "_pmv",
        "_ranges",
        "_regions",
        "_releases",
        "_rows",
        "_seed",
        "_storage",
        "_t",
        "_templates",
        "_tz",
        "_vocab",
    )

    def __init__(
        self,
        *,
        _rows: np.ndarray,
        _person: np.ndarray,
        _people: np.ndarray,
        _offset: int,
        _config: PopulationConfig,
        _app: AppConfig,
        _seed: int,
        _vocab: tuple[_Vocabulary, ...],
        _on: datetime.date = DEFAULT_DATE,
    ) -> None:
        self._rows = _rows
        self._mv = memoryview(cast(Any, _rows)).cast("B") if _rows.size else memoryview(b"")
        self._n = int(_rows.shape[0])
        self._person = _person
        self._people = _people
        self._pmv = memoryview(cast(Any, _people.view(np.uint8))) if _people.size else memoryview(b"")
        self._offset = _offset
        self._config = _config
        self._app = _app
        self._seed = _seed
        self._vocab = _vocab
        self._on = _on
        t = self._t = _tables(_on)
        self._countries = t.countries
        self._currency = tuple(c.currency for c in t.cat.countries)
        self._tz = tuple(r.timezone for r in t.cat.regions)
        self._carriers, self._locales, self._storage = t.carriers, t.locales, t.total_str
        cat = t.cat
        self._regions = tuple(
            (
                r.state,
                r.city,
                tuple(r.postcode.split("|")),
                cat.countries[int(t.region_country[k])],
                _vocab[int(t.region_country[k])],
            )
            for k, r in enumerate(cat.regions)
        )
        self._ranges = tuple((f"+{r.prefix}", r.digits) for r in cat.phone_ranges)
        self._releases = tuple((r.version, str(r.build)) for r in _app.releases)
        # additional_info per (variant, WebView version) with every field the model fixes, in the
        # reference's key order; device() copies one (a C-level copy) and fills in the rest.
        pkg = (_app.package_name, _app.bundle_id or _app.package_name)
        self._nchrome = len(t.chrome)
        self._ncap = len(t.capacities)
        self._templates = tuple(
            {
                "limitAdTracking": False,
                "fcmToken": "",
                "user_agent": ua,
                "appPackageName": pkg[v.platform],
                "app_version_name": "",
                "carrier": v.carrier,
                "deviceModelName": v.model,
                "deviceTimeZone": "",
                "extInfoVersion": v.ext,
                "externalStorageSize": "",
                "fingerprint": v.fingerprint,
                "freeSpaceExternalStorage": "",
                "locale": "",
                "longVersion": "",
                "osVersion": v.os_version,
                "screenDensity": v.density,
                "screenHeight": v.height,
                "screenWidth": v.width,
                "shortVersion": "",
            }
            for v in t.variants
            for ua in v.user_agents
        )
        # Everything device() reads, in one tuple: one attribute load instead of eleven.
        self._hot = (
            self._mv,
            self._n,
            self._templates,
            self._nchrome,
            self._releases,
            self._carriers,
            self._tz,
            self._storage,
            self._locales,
            tuple(zip(self._countries, self._currency, strict=True)),
            self._ncap,
        )

    # --- building ----------------------------------------------------------------------------

    @classmethod
    def build(
        cls, *, config: PopulationConfig, app: AppConfig, seed: int, on: datetime.date | None = None
    ) -> Population:
        """Draw ``config.devices`` devices and the people behind them from ``seed``.

        ``on`` is the simulated date (default ``DEFAULT_DATE``): only models, OS releases and WebView
        versions that had shipped by then appear, recent releases on the rise (an adoption ramp)."""
        on = on or DEFAULT_DATE
        t = _tables(on)
        country_w, ios_share = _check(config, app, t)
        n = config.devices
        rng = np.random.default_rng(seed)
        vocab = tuple(_vocabulary(c.faker_locale, c.street_source, seed) for c in t.cat.countries)

        # People first: devices of a two-device person share everything a person has.
        n_people = max(1, math.ceil(n / (1.0 + config.two_device_people))) if n else 0
        people = _draw_people(rng, n_people, country_w, t, vocab)

        # Device -> person: every person owns one device, some own a second; shuffled.
        owners = np.arange(n_people, dtype=np.int32)
        if n > n_people:
            extra = rng.choice(n_people, n - n_people, replace=False).astype(np.int32)
            owners = np.concatenate([owners, extra])
        person = owners[rng.permutation(n)] if n else owners[:0]

        rows = np.empty((n, ROW_BYTES), dtype=np.uint8)
        rows[:, :_RAW_BYTES] = rng.integers(0, 256, size=(n, _RAW_BYTES), dtype=np.uint8)
        for s in (_R_AD, _R_USER):
            identity.mark_uuid4(rows[:, s : s + 16])
        # A Firebase installation id starts with the 4 bits 0111 (so its first character is c-f).
        rows[:, _R_FID] = (rows[:, _R_FID] & 0x0F) | 0x70
        codes = rows[:, _RAW_BYTES:].view("<u2")

        region = people["region"][person]
        codes[:, _C_REGION] = region
        country = t.region_country[region].astype(np.int64)
        codes[:, _C_COUNTRY] = country
        platform = (rng.random(n) < ios_share[country]).astype(np.int64)
        codes[:, _C_PLATFORM] = platform
        variant = _choose(rng, 2 * country + platform, t.variant_w, n)
        codes[:, _C_VARIANT] = variant
        codes[:, _C_CHROME] = _choose(rng, None, t.webview_w, n)
        storage = _choose(rng, variant, t.storage_w, n)
        codes[:, _C_STORAGE] = storage
        # Free space: a Beta(2, 3) share of the usable space (mean 40%), never above it.
        free = np.floor(t.total_cg[variant, storage] * rng.beta(2.0, 3.0, n)).astype(np.uint32)
        del variant
        codes[:, _C_FREE_LO] = free & 0xFFFF
        codes[:, _C_FREE_HI] = free >> 16
        del free, storage
        codes[:, _C_LOCALE] = _choose(rng, country, t.locale_w, n)
        codes[:, _C_CARRIER] = _choose(rng, country, t.carrier_w, n)
        # Only releases out by the simulated date; among those, newer ones more often.
        out = [j for j, r in enumerate(app.releases) if not r.released or datetime.date.fromisoformat(r.released) <= on]
        out = out or [0]
        k = len(out)
        release_w = np.zeros((1, len(app.releases)))
        for rank, j in enumerate(out):
            release_w[0, j] = config.release_decay ** (k - 1 - rank)
        codes[:, _C_RELEASE] = _choose(rng, None, release_w, n)
        # iOS: tracking is limited unless the user allowed it in the ATT prompt.
        limited_p = np.where(platform == IOS, 1.0 - config.att_opt_in, config.android_limit_ad_tracking)
        codes[:, _C_LAT] = rng.random(n) < limited_p
        del codes, limited_p, platform, country, region
        if n >= 100_000:
            _trim_heap()
        return cls(
            _rows=rows,
            _person=person,
            _people=people,
            _offset=0,
            _config=config,
            _app=app,
            _seed=seed,
            _vocab=vocab,
            _on=on,
        )

    # --- one device --------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._n

    def _row(self, i: int) -> bytes:
        if not 0 <= i < self._n:
            raise IndexError(f"device {i} is outside this population of {self._n} (0 <= i < {self._n})")
        o = i * ROW_BYTES
        return self._mv[o : o + ROW_BYTES].tobytes()

    def device(self, i: int) -> Device:
        """The device's fields as the payload builders take them (a fresh dict each call)."""
        mv, n, templates, nchrome, releases, carriers, tz, storages, locales, country_currency, ncap = self._hot
        if not 0 <= i < n:
            raise IndexError(f"device {i} is outside this population of {n} (0 <= i < {n})")
        o = i * ROW_BYTES
        b = mv[o : o + ROW_BYTES].tobytes()
        country, platform, vi, chrome, storage, locale, carrier, release, lat, region, flo, fhi = _UNPACK_CODES(
            b, _RAW_BYTES
        )
        version, build = releases[release]
        c = _FCM_CHUNKS
        info = templates[vi * nchrome + chrome].copy()
        if lat:
            info["limitAdTracking"] = True
            ad_id = ZERO_AD_ID
        else:
            h = b[:16].hex()
            ad_id = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
            if platform == IOS:
                ad_id = ad_id.upper()
        info["fcmToken"] = "".join(
            (
                b2a_base64(b[32:48], newline=False)[:22].translate(_URLSAFE).decode(),
                ":APA91b",
                c[0][b[42]],
                c[1][b[43]],
                c[2][b[44]],
                c[3][b[45]],
                c[4][b[46]],
                c[5][b[47]],
            )
        )
        info["app_version_name"] = info["shortVersion"] = version
        if not info["carrier"]:  # "--": the OS reports no carrier name
            info["carrier"] = carriers[carrier]
        info["deviceTimeZone"] = tz[region]
        info["externalStorageSize"] = storages[vi * ncap + storage]
        free = flo | fhi << 16
        info["freeSpaceExternalStorage"] = f"{free // 100}.{_CENTS[free % 100]}"
        info["locale"] = locales[locale]
        info["longVersion"] = build
        code, currency = country_currency[country]
        return {
            "platform": PLATFORMS[platform],
            "ad_id": ad_id,
            "ga_app_instance_id": b[16:32].hex(),
            "info": info,
            "country": code,
            "currency": currency,
        }

    @property
    def store_release(self) -> tuple[str, str]:
        """(version, build) of the newest app release out by the simulated date: what a reinstall gets."""
        out = [r for r in self._app.releases if not r.released or datetime.date.fromisoformat(r.released) <= self._on]
        r = (out or list(self._app.releases[:1]))[-1]
        return r.version, str(r.build)

    def os_update(self, i: int) -> dict[str, Any] | None:
        """The ``additional_info`` fields that change when device ``i`` installs the newest OS release
        its model had on the simulated date (None: it already runs it)."""
        codes = _UNPACK_CODES(self._row(i), _RAW_BYTES)
        vi = codes[_C_VARIANT]
        top = self._t.newest[vi]
        if top == vi:
            return None
        t = self._templates[top * self._nchrome + codes[_C_CHROME]]
        return {
            "osVersion": t["osVersion"],
            "fingerprint": t["fingerprint"],
            "user_agent": t["user_agent"],
            "carrier": t["carrier"] or self._carriers[codes[_C_CARRIER]],
        }

    def person(self, i: int) -> Person:
        """The identify ``traits`` of the person behind device ``i`` (the same for both their devices)."""
        if not 0 <= i < self._n:
            raise IndexError(f"device {i} is outside this population of {self._n} (0 <= i < {self._n})")
        p = int(self._person[i])
        region, g, age, fi, li, street, unit, domain, style, prange, house, postcode, phone = _UNPACK_PERSON(
            self._pmv, p * _PERSON_DTYPE.itemsize
        )
        state, city, template, c, voc = self._regions[region]
        pool = g if g < 2 else fi & 1  # "other": either pool, the index's low bit says which
        if g == 2:
            fi >>= 1
        first_a, last_a = voc.first_ascii[pool][fi] or "user", voc.last_ascii[li] or "user"
        out: dict[str, Any] = {
            "first_name": voc.first[pool][fi],
            "last_name": voc.last[li],
            "email": f"{_EMAIL_STYLES[style].format(f=first_a, l=last_a, i=first_a[0], k=p)}@{self._t.domains[domain]}",
        }
        if phone != NO_PHONE:
            prefix, digits = self._ranges[prange]
            out["phone"] = f"{prefix}{phone:0{digits}d}"
        out |= {
            "gender": GENDERS[g],
            "age": age,
            "country": c.name,
            "state": state,
            "city": city,
            "zip": _fill_template(template[postcode % len(template)], postcode // len(template)),
            "address1": c.address1.format(
                street=voc.streets[street],
                n=1 + house % 199,
                N=1 + house % 9999,
                a=1 + house % 9,
                b=1 + house // 9 % 30,
                c=1 + house // 270 % 20,
            ),
        }
        if unit:
            out["address2"] = c.address2.format(u=unit)
        return cast(Person, out)

    def person_index(self, i: int) -> int:
        """The person's global index: a two-device person's devices share it."""
        self._row(i)
        return int(self._person[i])

    def user_uuid(self, i: int) -> str:
        """The install's first UUIDv4 (user id = app id + separator + this); upper case on iOS."""
        b = self._row(i)
        ios = _UNPACK_CODES(b, _RAW_BYTES)[_C_PLATFORM] == IOS
        return identity.format_uuid(b[_R_USER : _R_USER + 16], upper=ios)

    def device_index(self, i: int) -> int:
        """Index of device ``i`` in the unsharded population: the identity for per-device seeding."""
        if not 0 <= i < self._n:
            raise IndexError(f"device {i} is outside this population of {self._n} (0 <= i < {self._n})")
        return self._offset + i

    # --- sharding and statistics -------------------------------------------------------------

    def shard(self, index: int, count: int) -> Population:
        """Devices ``[n*index//count, n*(index+1)//count)``: disjoint, their union the whole.

        Device rows are copied (so the unsharded population can be freed); person columns are
        shared. Global indices, persons and every field stay exactly as in the whole population.
        """
        if count < 1 or not 0 <= index < count:
            raise ValueError(f"shard needs count >= 1 and 0 <= index < count, got index={index} count={count}")
        n = self._n
        lo, hi = n * index // count, n * (index + 1) // count
        return Population(
            _rows=self._rows[lo:hi].copy(),
            _person=self._person[lo:hi].copy(),
            _people=self._people,
            _offset=self._offset + lo,
            _config=self._config,
            _app=self._app,
            _seed=self._seed,
            _vocab=self._vocab,
            _on=self._on,
        )

    @property
    def config(self) -> PopulationConfig:
        return self._config

    @property
    def app(self) -> AppConfig:
        return self._app

    @property
    def seed(self) -> int:
        return self._seed

    @property
    def offset(self) -> int:
        """Global index of this population's first device (0 unless sharded)."""
        return self._offset

    def _codes(self, col: int) -> np.ndarray:
        return self._rows[:, _RAW_BYTES:].view("<u2")[:, col]

    @property
    def platform(self) -> np.ndarray:
        """Per device: 0 = Android, 1 = iOS (names in ``PLATFORMS``)."""
        return self._codes(_C_PLATFORM)

    @property
    def country(self) -> np.ndarray:
        """Per device: index into ``countries``."""
        return self._codes(_C_COUNTRY)

    @property
    def countries(self) -> tuple[str, ...]:
        """ISO 3166-1 alpha-2 codes, in ``country`` code order."""
        return self._countries

    @property
    def limit_ad_tracking(self) -> np.ndarray:
        """Per device: True when ad tracking is limited (advertising id zeroed)."""
        return self._codes(_C_LAT).astype(bool)

    @property
    def person_indices(self) -> np.ndarray:
        """Per device: the global person index (int32)."""
        return self._person

    @property
    def people(self) -> int:
        """Number of distinct people in the unsharded population."""
        return int(self._people.shape[0])

    @property
    def nbytes(self) -> int:
        """Bytes held by the columns (device rows of this shard plus the shared person columns)."""
        return self._rows.nbytes + self._person.nbytes + self._people.nbytes


@functools.cache
def _libc() -> Any:
    return ctypes.CDLL("libc.so.6")


def _trim_heap() -> None:
    """Hand the build's freed temporaries back to the OS.

    glibc keeps freed arrays of a few MB in its heap, so a million-device build would otherwise
    leave ~90 MB of dead temporaries in the process's RSS next to ~120 MB of live columns.
    """
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        _libc().malloc_trim(0)


def _check(config: PopulationConfig, app: AppConfig, t: _Tables) -> tuple[np.ndarray, np.ndarray]:
    """Country weights and iOS shares as arrays; a ValueError naming the field for anything wrong."""
    if not isinstance(config.devices, int) or config.devices < 0:
        raise ValueError(f"population.devices must be a whole number >= 0, got {config.devices!r}")
    for name in ("att_opt_in", "android_limit_ad_tracking", "two_device_people"):
        x = getattr(config, name)
        if not 0.0 <= x <= 1.0:
            raise ValueError(f"population.{name} must be a share between 0 and 1, got {x!r}")
    if not 0.0 < config.release_decay <= 1.0:
        raise ValueError(f"population.release_decay must be in (0, 1], got {config.release_decay!r}")
    if not app.releases:
        raise ValueError("app.releases is empty: list at least one release, oldest first")
    for k, rel in enumerate(app.releases):
        try:
            if rel.released:
                datetime.date.fromisoformat(rel.released)
        except ValueError:
            raise ValueError(
                f'app.releases[{k}].released must be an ISO date such as "2025-11-17", got {rel.released!r}'
            ) from None
    known = ", ".join(t.countries)
    for key in (*config.countries, *config.ios_share):
        if key not in t.countries:
            raise ValueError(
                f"population: unknown country {key!r}; the catalogue has {known} (add it to simulator/catalog/*.csv)"
            )
    if config.countries:
        country_w = np.array([float(config.countries.get(c, 0.0)) for c in t.countries])
    else:
        country_w = np.array([c.weight for c in t.cat.countries])
    if (country_w < 0).any() or country_w.sum() <= 0:
        raise ValueError(
            f"population.countries needs non-negative weights with a positive sum, got {dict(config.countries)!r}"
        )
    ios = np.array([float(config.ios_share.get(c.code, c.ios_share)) for c in t.cat.countries])
    if ((ios < 0) | (ios > 1)).any():
        raise ValueError(f"population.ios_share values must be shares between 0 and 1, got {dict(config.ios_share)!r}")
    return country_w, ios


def _draw_people(
    rng: np.random.Generator, n: int, country_w: np.ndarray, t: _Tables, vocab: tuple[_Vocabulary, ...]
) -> np.ndarray:
    """Every person column, in a fixed order from ``rng``."""
    country = _choose(rng, None, country_w[None, :], n)
    region = _choose(rng, country, t.region_w, n)
    gender = _choose(rng, None, np.array([[0.49, 0.49, 0.02]]), n)
    age = np.clip(np.rint(rng.normal(34.0, 11.0, n)), 18, 80).astype(np.uint8)
    # First names: class = (country, pool); "other" draws from both pools (parity encodes which).
    m = len(vocab)
    width = max(max(len(v.first[0]), len(v.first[1])) for v in vocab)
    fw = np.zeros((2 * m, width))
    for ci, v in enumerate(vocab):
        for g in (0, 1):
            fw[2 * ci + g, : len(v.first_w[g])] = v.first_w[g]
    pool = np.where(gender == 2, rng.integers(0, 2, n), gender)
    first = _choose(rng, 2 * country + pool, fw, n)
    first = np.where(gender == 2, (first << 1) | pool, first)
    lw = np.zeros((m, max(len(v.last) for v in vocab)))
    sw = np.zeros((m, max(len(v.streets) for v in vocab)))
    for ci, v in enumerate(vocab):
        lw[ci, : len(v.last_w)] = v.last_w
        sw[ci, : len(v.streets)] = 1.0
    last = _choose(rng, country, lw, n)
    street = _choose(rng, country, sw, n)
    house = rng.integers(0, 2**32, n, dtype=np.uint32)
    # A third of addresses have a flat/unit line.
    unit = np.where(rng.random(n) < 1 / 3, rng.integers(1, 450, n), 0).astype(np.uint16)
    postcode = rng.integers(0, 2**32, n, dtype=np.uint32)
    domain = _choose(rng, None, t.domain_w, n)
    style = rng.integers(0, len(_EMAIL_STYLES), n).astype(np.uint8)
    phone_range = _choose(rng, region, t.range_w, n)
    # Serials: the k-th person of a range gets first + (offset + k * stride) % count, unique within
    # the range. Fiction ranges are small (a US area code has 100 numbers), so people past a range's
    # size get no phone at all: a number shared by strangers would make a collector merge their
    # profiles, a misattribution that is the data's fault, not the collector's.
    ranges = t.cat.phone_ranges
    counts = np.array([r.count for r in ranges], dtype=np.int64)
    firsts = np.array([r.first for r in ranges], dtype=np.int64)
    offsets = rng.integers(0, 2**31, len(ranges)) % counts
    order = np.argsort(phone_range, kind="stable")
    starts = np.searchsorted(phone_range[order], np.arange(len(ranges)))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - starts[phone_range[order]]
    serial = firsts[phone_range] + (offsets[phone_range] + rank * _PHONE_STRIDE) % counts[phone_range]
    serial = np.where(rank < counts[phone_range], serial, NO_PHONE)
    people = np.zeros(n, dtype=_PERSON_DTYPE)
    for name, values in (
        ("region", region),
        ("gender", gender),
        ("age", age),
        ("first", first),
        ("last", last),
        ("street", street),
        ("unit", unit),
        ("domain", domain),
        ("style", style),
        ("phone_range", phone_range),
        ("house", house),
        ("postcode", postcode),
        ("phone", serial),
    ):
        people[name] = values
    return people
