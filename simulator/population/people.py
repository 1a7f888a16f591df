"""Synthetic people: Faker vocabularies per locale, O(1) alias-table sampling, and the packed person
records drawn in bulk from the population's one random source."""

from __future__ import annotations

import functools
import struct
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from simulator.population.tables import _Tables

#: Letters valid in every postcode template (UK inward code, Canadian FSA/LDU, Irish Eircode).
_POSTCODE_LETTERS = "AEHNPRTWXY"
#: A person's phone serial when their range had no number left for them: they have no phone.
NO_PHONE = 0xFFFF_FFFF
#: Stride scattering the serials of one phone range; prime, so coprime with every range size.
_PHONE_STRIDE = 7919
_FIRST_POOL, _STREET_POOL = 1200, 300


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
    # Most names are ASCII already, and NFKD leaves ASCII as it is: skip it (tens of thousands of names).
    folded = (
        text if text.isascii() else unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    ).lower()
    return folded if folded.isalnum() else "".join(ch for ch in folded if ch.isalnum())


def _weighted(words: Any) -> tuple[list[Any], np.ndarray]:
    if isinstance(words, Mapping):
        return list(words.keys()), np.array(list(words.values()), dtype=np.float64)
    words = list(words)
    return words, np.ones(len(words))


#: The Faker providers a vocabulary reads, in the order ``Faker(locale)`` adds them (sorted by name), so
#: a formatter both define resolves to the same one (the last added wins).
_PROVIDERS = ("address", "person")


def _faker(locale: str, seed: int) -> Any:
    """A Faker generator of ``locale`` with only the providers in ``_PROVIDERS``: the same draws as a
    seeded ``Faker(locale)`` (a test holds them together), without its look-up of every provider in
    every locale, a directory listing each: 13 ms a locale, a fifth of a small run's start-up."""
    from importlib import import_module

    from faker import Generator  # import cost paid only when a population is built
    from faker.config import DEFAULT_LOCALE

    config: dict[str, Any] = {"locale": locale, "use_weighting": True}  # Factory.create's (typed loosely)
    fake = Generator(**config)
    for name in _PROVIDERS:
        path = f"faker.providers.{name}"
        try:
            module, lang = import_module(f"{path}.{locale}"), locale
        except ModuleNotFoundError as exc:
            if exc.name != f"{path}.{locale}":
                raise
            # Factory.create's fallback (en_CA has no person provider of its own).
            lang = getattr(import_module(path), "default_locale", "") or DEFAULT_LOCALE
            module = import_module(f"{path}.{lang}")
        provider = module.Provider(fake)
        # What Factory.create sets: BaseProvider's weighted draws read __use_weighting__.
        provider.__use_weighting__ = True
        provider.__provider__ = path
        provider.__lang__ = lang
        fake.add_provider(provider)
    fake.seed_instance(seed)
    return fake


@functools.lru_cache(maxsize=64)
def _vocabulary(locale: str, street_source: str, seed: int) -> _Vocabulary:
    """Names (Faker's own weighted word lists) and a seeded pool of street names for one locale."""
    fake = _faker(locale, seed)
    provider = next(p for p in fake.get_providers() if hasattr(p, "first_names_male"))
    firsts, firsts_ascii, firsts_w = [], [], []
    for gender in ("male", "female"):
        pairs = getattr(provider, f"first_name_{gender}_pairs", None)
        if pairs is not None:  # ja_JP: (kanji, kana, romaji) triples
            words, w = _weighted(pairs)
            words = words[:_FIRST_POOL]  # the pool: no need to fold the names past it
            display, ascii_ = [p[0] for p in words], [_ascii(p[2]) for p in words]
        else:
            words, w = _weighted(getattr(provider, f"first_names_{gender}"))
            words = words[:_FIRST_POOL]
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
        # Lists, copied into the arrays once: a numpy item assignment costs ten times a list's.
        pr, al = [0.0] * k, [0] * k
        while small and large:
            s_, l_ = small.pop(), large.pop()
            pr[s_], al[s_] = p[s_], l_
            p[l_] += p[s_] - 1.0
            (small if p[l_] < 1.0 else large).append(l_)
        best = int(np.argmax(w[r]))
        positive = (w[r] > 0).tolist()
        for i in small + large:  # rounding leftovers: keep zero weights impossible
            pr[i], al[i] = (1.0, i) if positive[i] else (0.0, best)
        prob[r], alias[r] = pr, al
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
