"""Synthetic devices: every consistency rule over thousands of devices, shares, seeds, shards, safety."""

from __future__ import annotations

import datetime
import math
import re
from collections import Counter

import numpy as np
import pytest

from simulator import catalog, contract, payloads
from simulator.identity import ZERO_AD_ID
from simulator.population import PLATFORMS, AppConfig, NoDevicesOn, Population, PopulationConfig, Release

CAT = catalog.load()
N = 6000
SEED = 20240611
APP = AppConfig()
INFO_KEYS = [
    "limitAdTracking",
    "fcmToken",
    "user_agent",
    "appPackageName",
    "app_version_name",
    "carrier",
    "deviceModelName",
    "deviceTimeZone",
    "extInfoVersion",
    "externalStorageSize",
    "fingerprint",
    "freeSpaceExternalStorage",
    "locale",
    "longVersion",
    "osVersion",
    "screenDensity",
    "screenHeight",
    "screenWidth",
    "shortVersion",
]
UUID4 = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-4[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}\Z")
ANDROID_UA = re.compile(
    r"Mozilla/5\.0 \(Linux; Android (\d+); (.+) Build/([^;]+); wv\) AppleWebKit/537\.36 "
    r"\(KHTML, like Gecko\) Version/4\.0 Chrome/(\d+\.\d+\.\d+\.\d+) Mobile Safari/537\.36\Z"
)
IOS_UA = re.compile(
    r"Mozilla/5\.0 \(iPhone; CPU iPhone OS (\d+(?:_\d+)*) like Mac OS X\) AppleWebKit/605\.1\.15 "
    r"\(KHTML, like Gecko\) Mobile/15E148\Z"
)
FINGERPRINT = re.compile(r"([^/]+)/([^/]+)/([^:]+):(\d+)/([^/]+)/([^:]+):user/release-keys\Z")
FCM = re.compile(r"[c-f][A-Za-z0-9_-]{21}:APA91b[A-Za-z0-9_-]{120,}\Z")


def binomial_ok(hits: int, n: int, p: float, sigmas: float = 4.5) -> bool:
    """``hits`` out of ``n`` is within ``sigmas`` standard deviations of a share ``p``."""
    return abs(hits - n * p) <= sigmas * math.sqrt(n * p * (1 - p)) + 1


@pytest.fixture(scope="module")
def pop() -> Population:
    return Population.build(config=PopulationConfig(devices=N), app=APP, seed=SEED)


@pytest.fixture(scope="module")
def devices(pop: Population) -> list[payloads.Device]:
    return [pop.device(i) for i in range(len(pop))]


@pytest.fixture(scope="module")
def people(pop: Population) -> list[payloads.Person]:
    return [pop.person(i) for i in range(len(pop))]


ANDROID_BY_MODEL = {m.model: m for m in CAT.android_models}
IOS_BY_ID = {m.identifier: m for m in CAT.ios_models}
COUNTRY = {c.code: c for c in CAT.countries}


# --- shape ------------------------------------------------------------------------------------


def test_device_carries_exactly_the_reference_fields(devices):
    for d in devices[:500]:
        assert list(d["info"]) == INFO_KEYS
        assert type(d["info"]["limitAdTracking"]) is bool
        assert all(type(v) is str for k, v in d["info"].items() if k != "limitAdTracking")
        assert re.fullmatch(r"[0-9a-f]{32}", d["ga_app_instance_id"])
        assert FCM.match(d["info"]["fcmToken"]), d["info"]["fcmToken"]


def test_ids_are_unique_per_device(pop, devices):
    assert len({d["ga_app_instance_id"] for d in devices}) == N
    assert len({d["info"]["fcmToken"] for d in devices}) == N
    assert len({pop.user_uuid(i).lower() for i in range(N)}) == N
    ad = [d["ad_id"] for d in devices if d["ad_id"] != ZERO_AD_ID]
    assert len(set(ad)) == len(ad)


def test_no_two_fcm_tokens_share_a_stretch_of_their_body(devices):
    """A token's body after ``:APA91b`` is opaque random bytes: no 22 characters (132 bits) of it recur
    between devices. Before: six chunks, each one of 256 fixed strings, so among these 6,000 devices
    each chunk recurred about 23 times, plain to anyone who sorts the column."""
    seen: dict[str, int] = {}
    for k, d in enumerate(devices):
        body = d["info"]["fcmToken"].split(":APA91b", 1)[1]
        for at in range(0, len(body) - 21, 22):
            other = seen.setdefault(body[at : at + 22], k)
            assert other == k, f"devices {other} and {k} share {body[at : at + 22]!r}"


# --- consistency rules --------------------------------------------------------------------------


def test_platform_ext_info_version_ad_id_key_and_case_agree(pop, devices):
    for i, d in enumerate(devices):
        ios = d["platform"] == "ios"
        assert d["info"]["extInfoVersion"] == ("i2" if ios else "a2")
        assert PLATFORMS[pop.platform[i]] == d["platform"]
        ad = d["ad_id"]
        if ad != ZERO_AD_ID:
            assert UUID4.match(ad)
            assert ad == (ad.upper() if ios else ad.lower())
        ext = payloads.external_ids(d, "x", "1")
        assert ("idfa" in ext) == ios and ("aaid" in ext) == (not ios)


def test_limited_ad_tracking_means_the_zeroed_id(pop, devices):
    for i, d in enumerate(devices):
        limited = d["info"]["limitAdTracking"]
        assert limited == bool(pop.limit_ad_tracking[i])
        assert (d["ad_id"] == ZERO_AD_ID) == limited


def test_android_model_fixes_os_range_screen_density_and_fingerprint(devices):
    seen = set()
    for d in devices:
        info = d["info"]
        if d["platform"] != "android":
            continue
        m = ANDROID_BY_MODEL[info["deviceModelName"]]
        seen.add(m.model)
        brand, product, device, release, build, _ = FINGERPRINT.match(info["fingerprint"]).groups()
        assert (brand, product, device) == (m.brand, m.product, m.device)
        assert release == info["osVersion"] and m.min_release <= int(release) <= m.max_release
        assert info["screenWidth"] == str(m.width_px * 160 // m.dpi)
        assert info["screenHeight"] == str(m.height_px * 160 // m.dpi)
        assert info["screenDensity"] == str(m.dpi)
        assert any(r.build_id == build and r.release == int(release) for r in CAT.android_releases)
    assert len(seen) >= 30  # the catalogue is really used


def test_android_webview_user_agent_names_the_fingerprints_model_build_and_os(devices):
    for d in devices:
        info = d["info"]
        if d["platform"] != "android":
            continue
        release, model, build, chrome = ANDROID_UA.match(info["user_agent"]).groups()
        fp = FINGERPRINT.match(info["fingerprint"]).groups()
        assert model == info["deviceModelName"]
        assert release == fp[3] == info["osVersion"]
        assert build == fp[4]
        assert chrome in {w.version for w in CAT.webviews}


def test_iphone_model_fixes_os_range_screen_and_user_agent(devices):
    for d in devices:
        info = d["info"]
        if d["platform"] != "ios":
            continue
        m = IOS_BY_ID[info["deviceModelName"]]
        assert m.min_ios <= int(info["osVersion"].split(".")[0]) <= m.max_ios
        assert (info["screenWidth"], info["screenHeight"]) == (str(m.width_pt), str(m.height_pt))
        assert info["screenDensity"] == f"{m.scale}.0"
        if m.identifier.startswith("iPad"):  # iPadOS WKWebView: a Mac's (desktop-class) user agent
            assert "Macintosh; Intel Mac OS X" in info["user_agent"]
            continue
        (version,) = IOS_UA.match(info["user_agent"]).groups()
        # iOS 26's WebKit names a frozen 18_6 in its user agent.
        major = int(info["osVersion"].split(".")[0])
        assert version == ("18_6" if major >= 26 else info["osVersion"].replace(".", "_"))
        release = next(r for r in CAT.ios_releases if r.version == info["osVersion"])
        assert info["fingerprint"] == f"Apple/{m.identifier}/{release.version}/{release.build}"


def test_country_locale_timezone_carrier_phone_currency_and_address_agree(devices, people):
    for d, p in zip(devices, people, strict=True):
        c = COUNTRY[d["country"]]
        info = d["info"]
        assert d["currency"] == c.currency
        assert info["locale"].split("-")[1] == c.code
        assert info["locale"] in {x.locale for x in CAT.locales if x.country == c.code}
        if info["carrier"] != "--":  # iOS 16.4+ reports no carrier name
            assert info["carrier"] in {x.carrier for x in CAT.carriers if x.country == c.code}
        assert p["country"] == c.name
        region = next(r for r in CAT.regions if r.country == c.code and r.city == p["city"])
        assert p["state"] == region.state
        assert info["deviceTimeZone"] == region.timezone
        assert _matches_postcode(p["zip"], region.postcode), (p["zip"], region.postcode)
        if "phone" in p:  # see test_phones_never_shared_by_strangers
            assert _phone_range(p["phone"], c.code, region.area) is not None, (p["phone"], c.code)


def _matches_postcode(zip_: str, templates: str) -> bool:
    def pattern(template: str) -> str:
        return "".join(
            "[0-9]" if ch == "#" else "[1-9]" if ch == "%" else "[A-Z]" if ch == "?" else re.escape(ch)
            for ch in template
        )

    return any(re.fullmatch(pattern(t), zip_) for t in templates.split("|"))


def _phone_range(phone: str, country: str, area: str | None = None) -> catalog.PhoneRange | None:
    for r in CAT.phone_ranges:
        if r.country != country or (area is not None and r.area not in ("", area)):
            continue
        rest = phone[1 + len(r.prefix) :]
        if phone.startswith("+" + r.prefix) and len(rest) == r.digits and r.first <= int(rest) < r.first + r.count:
            return r
    return None


def test_free_storage_never_exceeds_total(devices):
    for d in devices:
        free, total = float(d["info"]["freeSpaceExternalStorage"]), float(d["info"]["externalStorageSize"])
        assert 0 <= free <= total


def test_newer_releases_are_more_common(devices):
    counts = Counter(d["info"]["app_version_name"] for d in devices)
    ordered = [counts[r.version] for r in APP.releases]
    assert ordered == sorted(ordered) and ordered[0] < ordered[-1]
    by_name = {r.version: str(r.build) for r in APP.releases}
    for d in devices[:500]:
        info = d["info"]
        assert info["shortVersion"] == info["app_version_name"] and info["longVersion"] == by_name[info["shortVersion"]]


def test_package_name_per_platform():
    app = AppConfig(package_name="com.example.android", bundle_id="com.example.ios")
    pop = Population.build(config=PopulationConfig(devices=300), app=app, seed=1)
    for i in range(len(pop)):
        d = pop.device(i)
        assert d["info"]["appPackageName"] == ("com.example.ios" if d["platform"] == "ios" else "com.example.android")


# --- shares ---------------------------------------------------------------------------------------


def test_country_mix_and_ios_share_match_the_catalogue(pop):
    weights = np.array([c.weight for c in CAT.countries])
    weights /= weights.sum()
    country, ios = pop.country, pop.platform == 1
    for k, c in enumerate(CAT.countries):
        # Country is drawn per person; devices of two-device people add a little variance.
        assert binomial_ok(int((country == k).sum()), N, weights[k], sigmas=5.5), c.code
        mine = country == k
        if mine.sum() > 200:
            assert binomial_ok(int(ios[mine].sum()), int(mine.sum()), c.ios_share), c.code


def test_configured_countries_ios_share_att_and_lat_rates_are_honoured():
    config = PopulationConfig(
        devices=8000,
        countries={"US": 3, "IN": 1},
        ios_share={"IN": 0.5},
        att_opt_in=0.25,
        android_limit_ad_tracking=0.10,
    )
    pop = Population.build(config=config, app=APP, seed=5)
    codes = {pop.countries[k] for k in np.unique(pop.country)}
    assert codes == {"US", "IN"}
    us, india = pop.country == pop.countries.index("US"), pop.country == pop.countries.index("IN")
    assert binomial_ok(int(us.sum()), 8000, 0.75, sigmas=5.5)
    ios = pop.platform == 1
    assert binomial_ok(int(ios[us].sum()), int(us.sum()), 0.58)
    assert binomial_ok(int(ios[india].sum()), int(india.sum()), 0.5)
    lat = pop.limit_ad_tracking
    assert binomial_ok(int((~lat[ios]).sum()), int(ios.sum()), 0.25)
    assert binomial_ok(int(lat[~ios].sum()), int((~ios).sum()), 0.10)


def test_two_device_people_share_a_person_but_not_an_install():
    pop = Population.build(config=PopulationConfig(devices=5000, two_device_people=0.2), app=APP, seed=3)
    owners = Counter(pop.person_index(i) for i in range(len(pop)))
    assert set(owners.values()) == {1, 2}
    assert len(owners) == pop.people
    two = sum(1 for v in owners.values() if v == 2)
    assert abs(two / len(owners) - 0.2) < 0.01
    pairs: dict[int, list[int]] = {}
    for i in range(len(pop)):
        pairs.setdefault(pop.person_index(i), []).append(i)
    for a, b in [v for v in pairs.values() if len(v) == 2][:300]:
        assert pop.person(a) == pop.person(b)
        assert pop.user_uuid(a).lower() != pop.user_uuid(b).lower()
        assert pop.device(a)["info"]["deviceTimeZone"] == pop.device(b)["info"]["deviceTimeZone"]
    single = Population.build(config=PopulationConfig(devices=500, two_device_people=0.0), app=APP, seed=3)
    assert len({single.person_index(i) for i in range(500)}) == 500


# --- synthetic people are never real -------------------------------------------------------------


def test_emails_only_on_reserved_domains_and_unique_per_person(pop, people):
    by_person: dict[int, str] = {}
    for i, p in enumerate(people):
        local, domain = p["email"].split("@")
        assert domain in ("example.com", "example.net", "example.org") or domain.endswith(".test")
        assert re.fullmatch(r"[a-z0-9._]+", local), p["email"]
        by_person[pop.person_index(i)] = p["email"]
    assert len(set(by_person.values())) == len(by_person)


def test_phones_only_from_fiction_or_unassignable_ranges(pop, people):
    for p in people:
        if "phone" in p:
            code = next(c.code for c in CAT.countries if c.name == p["country"])
            assert re.fullmatch(r"\+[1-9][0-9]{6,14}", p["phone"])
            assert _phone_range(p["phone"], code) is not None, p["phone"]


def test_phones_never_shared_by_strangers() -> None:
    """Fiction ranges are small (100 numbers per US area code): a number given to two people would
    make a collector merge strangers' profiles. Past a range's size people have no phone, and
    identify by email instead."""
    pop = Population.build(config=PopulationConfig(devices=20_000, countries={"US": 1, "GB": 1}), app=APP, seed=5)
    owner: dict[str, int] = {}
    without = 0
    for i in range(len(pop)):
        person = pop.person(i)
        if "phone" not in person:
            without += 1
            assert payloads.identify_by(person, email=False, phone=True) == {"identify_by_email": person["email"]}
            continue
        assert owner.setdefault(person["phone"], pop.person_index(i)) == pop.person_index(i), person["phone"]
    # US ranges hold 1,900 numbers and GB 8,000 for ~10,000 people each: thousands get a number,
    # the rest none.
    assert len(owner) > 4000
    assert without > 0


def test_unassignable_ranges_are_invalid_numbers_for_libphonenumber(people):
    phonenumbers = pytest.importorskip("phonenumbers")
    checked = 0
    for p in people:
        if p["country"] in ("India", "Japan", "Brazil") and "phone" in p:
            assert not phonenumbers.is_valid_number(phonenumbers.parse(p["phone"])), p["phone"]
            checked += 1
    assert checked > 100


# --- contract, seeds, shards ------------------------------------------------------------------


def test_every_body_from_any_device_passes_the_contract(pop, devices, people):
    for sep in ("", "_"):
        for i in range(0, N, 3 if sep == "" else 11):
            d, p = devices[i], people[i]
            uid = f"{APP.app_id}{sep}{pop.user_uuid(i)}"
            sid = "CL-" + pop.user_uuid((i + 1) % N)
            start = payloads.session_start(APP.app_id, d, uid, sid, "1718000000")
            assert contract.validate("externalIds", start) == [], (i, d)
            for by in (
                payloads.identify_by(p),
                payloads.identify_by(p, phone=False),
                payloads.identify_by(p, email=False),
            ):
                body = payloads.identify(APP.app_id, d, uid, sid, "1718000000", p, "2026-03-12T05:45:15Z", by)
                assert contract.validate("identify", body) == [], (i, p)
            assert (
                contract.validate(
                    "externalIds",
                    payloads.session_start(
                        APP.app_id, d, uid, sid, "1", click_ids={"gclid": "x"}, utm={"utm_source": "y"}
                    ),
                )
                == []
            )


def test_same_seed_same_devices_other_seed_other_devices():
    config = PopulationConfig(devices=400)
    a = Population.build(config=config, app=APP, seed=11)
    b = Population.build(config=config, app=APP, seed=11)
    c = Population.build(config=config, app=APP, seed=12)
    for i in range(400):
        assert a.device(i) == b.device(i) and a.person(i) == b.person(i) and a.user_uuid(i) == b.user_uuid(i)
    assert sum(a.device(i) == c.device(i) for i in range(400)) == 0
    assert sum(a.person(i) == c.person(i) for i in range(400)) < 5
    assert all(a.user_uuid(i) != c.user_uuid(i) for i in range(400))


@pytest.mark.parametrize("count", [1, 3, 7])
def test_shards_are_disjoint_and_their_union_is_the_whole(pop, devices, people, count):
    seen: list[int] = []
    for k in range(count):
        part = pop.shard(k, count)
        for j in range(len(part)):
            g = part.device_index(j)
            seen.append(g)
            if j % 17 == 0:
                assert part.device(j) == devices[g]
                assert part.person(j) == people[g]
                assert part.user_uuid(j) == pop.user_uuid(g)
                assert part.person_index(j) == pop.person_index(g)
        assert part.offset == (part.device_index(0) if len(part) else part.offset)
    assert sorted(seen) == list(range(N)) and len(seen) == N
    nested = pop.shard(1, 3).shard(1, 2)
    assert nested.device(0) == devices[nested.device_index(0)]


def test_statistics_columns_match_the_devices(pop, devices):
    assert len(pop.platform) == len(pop.country) == len(pop) == N
    for i in range(0, N, 7):
        assert pop.countries[pop.country[i]] == devices[i]["country"]
    assert pop.nbytes < 200 * N


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (PopulationConfig(countries={"XX": 1.0}), 'population.countries.XX: unknown country "XX"'),
        (PopulationConfig(ios_share={"US": 1.5}), "ios_share"),
        (PopulationConfig(att_opt_in=-0.1), "att_opt_in"),
        (PopulationConfig(two_device_people=2.0), "two_device_people"),
        (PopulationConfig(countries={"US": 0.0}), "population.countries: expected at least one weight above 0"),
        (PopulationConfig(devices=-1), "devices"),
    ],
)
def test_bad_configuration_names_the_field(config, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        Population.build(config=config, app=APP, seed=1)


def test_bad_app_and_shard_arguments_say_what_to_do(pop):
    with pytest.raises(ValueError, match=r"app\.releases"):
        Population.build(config=PopulationConfig(devices=5), app=AppConfig(releases=()), seed=1)
    with pytest.raises(ValueError, match="0 <= index < count"):
        pop.shard(3, 3)
    with pytest.raises(IndexError, match="outside this population"):
        pop.device(N)
    with pytest.raises(IndexError):
        pop.device(-1)


def test_single_release_and_empty_population():
    pop = Population.build(config=PopulationConfig(devices=50), app=AppConfig(releases=(Release("1.0", 1),)), seed=2)
    assert {pop.device(i)["info"]["app_version_name"] for i in range(50)} == {"1.0"}
    empty = Population.build(config=PopulationConfig(devices=0), app=APP, seed=2)
    assert len(empty) == 0 and len(empty.shard(0, 2)) == 0


_DIGEST = """
import hashlib, orjson
from simulator.population import AppConfig, Population, PopulationConfig
pop = Population.build(config=PopulationConfig(devices=800), app=AppConfig(), seed=42)
m = hashlib.sha256()
for i in range(len(pop)):
    m.update(orjson.dumps([pop.device(i), pop.person(i), pop.user_uuid(i), pop.person_index(i)]))
digest = m.hexdigest()
"""


def test_another_process_builds_the_same_bytes_from_the_same_seed():
    """Distributed workers build their own copy: hash randomisation or import order must not matter."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", _DIGEST + "print(digest)"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=60,
    ).stdout.strip()
    here: dict[str, str] = {}
    exec(_DIGEST, here)
    assert out == here["digest"]


def test_devices_are_what_existed_on_the_simulated_date() -> None:
    """Models, OS releases, WebViews and app releases out by ``on`` only; earlier dates, older devices."""
    app = AppConfig(
        releases=(Release("1.0", 10, "2024-01-01"), Release("2.0", 20, "2025-03-01"), Release("3.0", 30, "2026-06-01"))
    )
    on = datetime.date(2025, 3, 20)
    pop = Population.build(config=PopulationConfig(devices=3000), app=app, seed=4, on=on)
    ios = {r.version: r for r in CAT.ios_releases}
    android = {r.release: r for r in CAT.android_releases if not r.brand}
    models = {m.model: m for m in CAT.android_models} | {m.identifier: m for m in CAT.ios_models}
    chrome = {w.version: w for w in CAT.webviews}
    seen = Counter()
    for i in range(len(pop)):
        info = pop.device(i)["info"]
        seen[info["app_version_name"]] += 1
        assert datetime.date.fromisoformat(models[info["deviceModelName"]].launched) <= on
        if pop.device(i)["platform"] == "ios":
            assert datetime.date.fromisoformat(ios[info["osVersion"]].released) <= on, info["osVersion"]
        else:
            assert datetime.date.fromisoformat(android[int(info["osVersion"])].released) <= on
            version = re.search(r"Chrome/([\d.]+)", info["user_agent"]).group(1)
            assert datetime.date.fromisoformat(chrome[version].released) <= on
    assert set(seen) == {"1.0", "2.0"} and seen["2.0"] > seen["1.0"]
    with pytest.raises(ValueError, match=r"app\.releases\[0\]\.released"):
        Population.build(config=PopulationConfig(devices=1), app=AppConfig(releases=(Release("1", 1, "soon"),)), seed=1)


@pytest.mark.parametrize("country", CAT.countries, ids=lambda c: c.code)
def test_vocabulary_faker_draws_what_a_seeded_faker_of_its_locale_draws(country: catalog.Country) -> None:
    # The vocabulary builds a Faker generator of two providers, not Faker(locale) (slow to start):
    # every name and street must still come out the same, or a Faker upgrade would change the bytes.
    from faker import Faker

    from simulator.population.people import _faker

    full = Faker(country.faker_locale).factories[0]
    for seed in (0, 1, SEED):
        fake = _faker(country.faker_locale, seed)
        for name in dir(fake):
            method = getattr(fake, name)
            if not name.startswith("_") and callable(method) and hasattr(method, "__func__"):
                assert getattr(full, name).__func__ is method.__func__, name
        full.seed_instance(seed)
        draws = [getattr(full, country.street_source)() for _ in range(300)]
        assert [getattr(fake, country.street_source)() for _ in range(300)] == draws


def test_a_date_before_the_apps_first_release_is_refused_naming_it() -> None:
    """Before: every device installed the first release, out or not (3.1.0 of 2025-05-12 on 2024-06-15)."""
    with pytest.raises(NoDevicesOn) as e:
        Population.build(config=PopulationConfig(devices=5), app=APP, seed=1, on=datetime.date(2024, 6, 15))
    assert str(e.value) == (
        "app.releases: the app's first release, 3.1.0, came out 2025-05-12, after 2024-06-15: "
        "simulate 2025-05-12 or later, or list a release out by then"
    )
    # A release with no date is always available; the day of the first release is enough.
    undated = AppConfig(releases=(Release("1.0", 1), Release("9.0", 900, "2027-06-01")))
    pop = Population.build(config=PopulationConfig(devices=20), app=undated, seed=1)
    assert {pop.device(i)["info"]["app_version_name"] for i in range(20)} == {"1.0"}
    first = Population.build(config=PopulationConfig(devices=5), app=APP, seed=1, on=datetime.date(2025, 5, 12))
    assert {first.device(i)["info"]["longVersion"] for i in range(5)} == {"310"}
