"""The ``Population``: N devices as packed rows and person records, materialised one at a time on demand."""

from __future__ import annotations

import contextlib
import ctypes
import datetime
import functools
import math
import struct
from binascii import b2a_base64
from hashlib import shake_128
from typing import Any, cast

import numpy as np

from simulator import identity
from simulator.identity import ZERO_AD_ID
from simulator.payloads import Device, Person
from simulator.population.config import GENDERS, IOS, PLATFORMS, AppConfig, PopulationConfig, config_problems
from simulator.population.people import (
    _EMAIL_STYLES,
    _PERSON_DTYPE,
    _UNPACK_PERSON,
    NO_PHONE,
    _choose,
    _draw_people,
    _fill_template,
    _Vocabulary,
    _vocabulary,
)
from simulator.population.tables import DEFAULT_DATE, NoDevicesOn, _Tables, _tables

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
#: Peak memory of ``Population.build`` a device: the rows, the people and the device-to-person map it
#: keeps (about 120 bytes) and the draws' arrays while they live. Measured at 205-214 bytes for 1-4 M
#: devices, with a margin: a check that says "fits" must not be wrong.
#: tests/unit/test_machine_memory.py holds it to a real build.
BUILD_BYTES_PER_DEVICE = 225
_UNPACK_CODES = struct.Struct(f"<{_CODES}H").unpack_from
_URLSAFE = bytes.maketrans(b"+/", b"-_")
_CENTS = tuple(f"{k:02d}" for k in range(100))  # a format spec costs more than the rest of the field


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

    @staticmethod
    def check_day(app: AppConfig, on: datetime.date) -> None:
        """``NoDevicesOn`` where ``build`` would raise it for ``on`` (no device of a platform in the
        catalogue yet, no release of the app out), drawing nothing: the catalogue's tables of the day
        (a few milliseconds, and the ones a build of that day then uses) and the app's releases."""
        _tables(on)
        _released_by(app, on)

    @classmethod
    def build(
        cls, *, config: PopulationConfig, app: AppConfig, seed: int, on: datetime.date | None = None
    ) -> Population:
        """Draw ``config.devices`` devices and the people behind them from ``seed``.

        ``on`` is the simulated date (default ``DEFAULT_DATE``): only models, OS releases and WebView
        versions that had shipped by then appear, recent releases on the rise (an adoption ramp).
        Raises ``NoDevicesOn`` for a date before the catalogue's first devices or the app's first release."""
        on = on or DEFAULT_DATE
        t = _tables(on)
        country_w, ios_share = _check(config, app, t)
        out = _released_by(app, on)  # before any draw: a date with no release out is refused at once
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
        info = templates[vi * nchrome + chrome].copy()
        if lat:
            info["limitAdTracking"] = True
            ad_id = ZERO_AD_ID
        else:
            h = b[:16].hex()
            ad_id = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
            if platform == IOS:
                ad_id = ad_id.upper()
        # The token's body: 99 opaque bytes (132 characters), from all of the device's random bytes.
        info["fcmToken"] = (
            b2a_base64(b[32:48], newline=False)[:22].translate(_URLSAFE).decode()
            + ":APA91b"
            + b2a_base64(shake_128(b[:_RAW_BYTES]).digest(99), newline=False).translate(_URLSAFE).decode()
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
        r = self._app.releases[_released_by(self._app, self._on)[-1]]
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


def _released_by(app: AppConfig, on: datetime.date) -> list[int]:
    """Indices of the app releases out by ``on`` (an undated one always is); NoDevicesOn when none is:
    a device cannot run an app that was not out yet."""
    out = [j for j, r in enumerate(app.releases) if not r.released or datetime.date.fromisoformat(r.released) <= on]
    if not out:
        first = min(app.releases, key=lambda r: r.released)
        raise NoDevicesOn(
            f"app.releases: the app's first release, {first.version}, came out {first.released}, after "
            f"{on.isoformat()}: simulate {first.released} or later, or list a release out by then"
        )
    return out


def _check(config: PopulationConfig, app: AppConfig, t: _Tables) -> tuple[np.ndarray, np.ndarray]:
    """Country weights and iOS shares as arrays; a ValueError naming the field for anything wrong."""
    if not isinstance(config.devices, int) or config.devices < 0:
        raise ValueError(f"population.devices must be a whole number >= 0, got {config.devices!r}")
    problems = config_problems(config, app, t.countries)
    if problems:
        path, message = problems[0]
        raise ValueError(f"{path}: {message}")
    if config.countries:
        country_w = np.array([float(config.countries.get(c, 0.0)) for c in t.countries])
    else:
        country_w = np.array([c.weight for c in t.cat.countries])
    ios = np.array([float(config.ios_share.get(c.code, c.ios_share)) for c in t.cat.countries])
    return country_w, ios
