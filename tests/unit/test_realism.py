"""What the bodies say together, against the platforms' own rules (issue #18), over generated datasets
of 3,000 devices: each rule holds for every line (exact tests)."""

from __future__ import annotations

import csv
import datetime
import itertools
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from simulator.dataset import generate, read_dataset
from tests import realism

DEVICES = 3000
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-4[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}"


@pytest.fixture(scope="module")
def identity(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("identity")
    generate("identity", out=out, users=DEVICES, days=4, seed=31)
    return out


@pytest.fixture(scope="module")
def ecommerce(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ecommerce")
    generate("ecommerce", out=out, users=DEVICES, days=3, seed=7)
    return out


@pytest.fixture(scope="module")
def bad_clients(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bad-clients")
    generate("bad-clients", out=out, users=DEVICES, days=3, seed=43)
    return out


def bodies(directory: Path, endpoint: str) -> Iterator[dict[str, Any]]:
    with (directory / "requests" / f"{endpoint}.jsonl").open("rb") as f:
        for line in f:
            yield orjson.loads(line)


def table(directory: Path) -> list[dict[str, str]]:
    with (directory / "events.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def starts_by_device(directory: Path) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for rec in read_dataset(directory):
        if rec.request.endpoint == "externalIds":
            out[rec.device].append(rec.request.body)
    return out


def test_device_internals_follow_the_platform_rules(identity: Path) -> None:
    """iOS: '--' carrier from 16.4, only versions the model received; Android: fingerprints whose
    release, build id, OEM build and firmware date agree, and a user agent naming the same build."""
    problems: Counter[str] = Counter()
    example: dict[str, str] = {}
    n = Counter()
    for body in bodies(identity, "externalIds"):
        info = body["additional_info"]
        n[info["extInfoVersion"]] += 1
        n["iPad"] += info["deviceModelName"].startswith("iPad")
        for p in realism.device_problems(info, on=datetime.date(2026, 1, 31)):
            kind = re.sub(r"[\d.]+", "#", p)[:60]
            problems[kind] += 1
            example.setdefault(kind, p)
    assert n["i2"] > 500 and n["a2"] > 500
    assert 0.02 <= n["iPad"] / n["i2"] <= 0.12, "tablets: a few % of iOS devices"
    assert not problems, {k: (c, example[k]) for k, c in problems.most_common(12)}


@pytest.mark.parametrize("on", ["2024-09-30", "2025-03-31", "2025-04-30", "2025-09-30", "2026-01-01"])
def test_no_model_runs_an_os_release_or_build_from_before_it_went_on_sale(on: str) -> None:
    """Every (model, OS build) the population can draw from, on dates just after launches: the rules
    above for each, the OS it shipped with (the newest out at its launch) or a later one included."""
    from simulator.population.tables import _tables

    day = datetime.date.fromisoformat(on)
    problems = []
    for v in _tables(day).variants:
        info = {
            "extInfoVersion": v.ext,
            "deviceModelName": v.model,
            "osVersion": v.os_version,
            "fingerprint": v.fingerprint,
            "user_agent": v.user_agents[-1],
            "carrier": v.carrier or "Vodafone",
        }
        problems += realism.device_problems(info, on=day)
    assert not problems, problems


def test_purchases_hold_what_the_cart_holds_after_a_checkout(identity: Path, ecommerce: Path) -> None:
    for directory in (identity, ecommerce):
        by_session: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for body in bodies(directory, "events"):
            by_session[body["sid"]].append(body)
        purchases = bad_items = no_checkout = 0
        for events in by_session.values():
            cart: Counter[str] = Counter()
            checked_out = False
            for body in events:
                name = body["event_name"]
                lines = {p["product_id"]: int(p["product_quantity"]) for p in body.get("products", ())}
                if name == "Add to Cart":
                    cart.update(lines)
                elif name == "Remove from Cart":
                    cart.subtract(lines)
                elif name == "Begin Checkout":
                    checked_out = True
                    assert lines == {k: q for k, q in cart.items() if q > 0}, (lines, cart)
                elif name == "Purchase":
                    purchases += 1
                    no_checkout += not checked_out
                    bad_items += any(q > cart[k] for k, q in lines.items()) or not lines
                    cart.clear()
                    checked_out = False
        assert purchases > 50
        assert (bad_items, no_checkout) == (0, 0), directory.name
        funnel = {
            row["step"]: row["sessions"] for row in orjson.loads((directory / "summary.json").read_bytes())["funnel"]
        }
        assert funnel["Purchase"] <= funnel["Begin Checkout"] <= funnel["Add to Cart"], funnel


def test_a_reinstall_resets_the_install_ids_and_keeps_the_advertising_id(identity: Path) -> None:
    reinstalls = 0
    for starts in starts_by_device(identity).values():
        for a, b in itertools.pairwise(starts):
            if a["uid"] == b["uid"]:
                # The same install: every install-scoped id stays.
                assert a["additional_info"]["fcmToken"] == b["additional_info"]["fcmToken"]
                assert (
                    a["external_ids"]["google_analytics__app_instance_id"]
                    == b["external_ids"]["google_analytics__app_instance_id"]
                )
                continue
            reinstalls += 1
            ea, eb = a["external_ids"], b["external_ids"]
            assert ea["google_analytics__app_instance_id"] != eb["google_analytics__app_instance_id"]
            assert re.fullmatch(r"[0-9a-f]{32}", eb["google_analytics__app_instance_id"])
            assert a["additional_info"]["fcmToken"] != b["additional_info"]["fcmToken"]
            assert re.fullmatch(r"[A-Za-z0-9_-]{22}:APA91b[A-Za-z0-9_-]{100,}", b["additional_info"]["fcmToken"])
            ad = "idfa" if "idfa" in ea else "aaid"
            assert ea[ad] == eb[ad], "the advertising id belongs to the device, not the install"
            # The store's current release is what gets installed (the default history's newest by 2026).
            assert b["additional_info"]["app_version_name"] == "3.4.0"
    assert reinstalls > 200


def test_user_id_uuid_case_is_the_platforms_on_every_install(identity: Path) -> None:
    cases: dict[str, Counter[str]] = {"ios": Counter(), "android": Counter()}
    for starts in starts_by_device(identity).values():
        for body in starts:
            platform = "ios" if body["additional_info"]["extInfoVersion"] == "i2" else "android"
            uuid = re.search(_UUID + "$", body["uid"])
            assert uuid, body["uid"]
            text = uuid.group(0)
            cases[platform]["upper" if text == text.upper() else "lower" if text == text.lower() else "mixed"] += 1
    # iOS prints UUID().uuidString in upper case, Kotlin's UUID.toString() is lower case.
    assert set(cases["ios"]) == {"upper"}, cases
    assert set(cases["android"]) == {"lower"}, cases


def test_postcodes_exist_in_their_city(identity: Path) -> None:
    seen = Counter()
    bad: list[str] = []
    for body in bodies(identity, "identify"):
        traits = body["traits"]
        seen[traits["city"]] += 1
        bad += realism.postcode_problems(traits)
    assert seen["Berlin"] and seen["Dublin"] and seen["London"]
    assert not bad, (len(bad), bad[:10])


def test_a_session_start_without_sid_is_filed_under_its_own_session(bad_clients: Path) -> None:
    rows = table(bad_clients)
    starts = list(bodies(bad_clients, "externalIds"))
    sid_of: dict[tuple[str, str], set[str]] = defaultdict(set)
    missing = 0
    it = iter(starts)
    for row in rows:
        if row["endpoint"] == "externalIds":
            body = next(it)
            if "sid" not in body:
                missing += 1
                assert row["session_id"] == "", "a start with no sid must not borrow the previous session's"
        if row["session_id"]:
            sid_of[(row["device"], row["session_number"])].add(row["session_id"])
    assert missing > 20
    # One sid per (device, session) and never the sid of another session.
    assert all(len(s) == 1 for s in sid_of.values())
    owners = Counter(next(iter(s)) for s in sid_of.values())
    assert max(owners.values()) == 1


#: Shelf-price endings shoppers see in each market (retailers' price lists): the cents, or the last digits.
def _is_price_point(currency: str, price: float) -> bool:
    cents = round(price * 100) % 100
    whole = round(price)
    if currency in ("USD", "EUR", "GBP", "CAD", "AUD", "NZD"):
        return cents == 99
    if currency == "BRL":
        return cents == 90
    if currency == "INR":
        return cents == 0 and whole % 10 == 9 and (whole < 1000 or whole % 100 == 99)
    if currency == "JPY":
        return cents == 0 and whole % 10 == 0 and (whole < 1000 or whole % 100 == 80)
    if currency == "SEK":
        return cents == 0 and (whole < 100 or whole % 10 == 9)
    return True


#: Countries whose consumer prices include VAT/GST (the order's tax is inside its value).
_VAT_INCLUSIVE = {"GB", "DE", "IE", "SE", "JP", "AU", "IN", "BR"}


def test_prices_are_local_price_points_and_variants_cost_alike(ecommerce: Path) -> None:
    by_variant: dict[tuple[str, str], set[float]] = defaultdict(set)
    seen: Counter[str] = Counter()
    for body in bodies(ecommerce, "events"):
        currency = body.get("properties", {}).get("currency")
        for p in body.get("products", ()):
            seen[currency] += 1
            assert _is_price_point(currency, p["product_price"]), (currency, p)
            by_variant[(p["product_name"].split(" - ")[0], currency)].add(p["product_price"])
    assert {"USD", "INR", "JPY", "EUR", "GBP", "BRL"} <= set(seen)
    assert all(len(prices) == 1 for prices in by_variant.values()), "colour variants of a product share a price"


def test_tax_is_inside_the_price_where_vat_is_and_on_top_where_sales_tax_is(identity: Path) -> None:
    rows = {r["transaction_id"]: r["country"] for r in table(identity) if r["transaction_id"]}
    checked = Counter()
    for body in bodies(identity, "events"):
        if body["event_name"] != "Purchase":
            continue
        pr = body["properties"]
        goods = sum(p["product_price"] * p["product_quantity"] for p in body["products"])
        taxable = goods - pr["discount"]
        country = rows[pr["transaction_id"]]
        unit = 1 if pr["currency"] == "JPY" else 0.01
        if country in _VAT_INCLUSIVE:
            assert abs(pr["value"] - (taxable + pr["shipping"])) <= 2 * unit, (country, pr)
            rate = pr["tax"] / (taxable - pr["tax"])
            assert 0.09 <= rate <= 0.26, (country, rate)
            checked["inclusive"] += 1
        else:
            assert abs(pr["value"] - (taxable + pr["shipping"] + pr["tax"])) <= 2 * unit, (country, pr)
            assert 0.02 <= pr["tax"] / taxable <= 0.15, (country, pr)
            checked["on top"] += 1
    assert checked["inclusive"] > 50 and checked["on top"] > 50, checked


def test_a_welcome_coupon_only_on_a_first_order(identity: Path) -> None:
    coupons = Counter()
    for body in bodies(identity, "events"):
        pr = body.get("properties", {})
        if body["event_name"] == "Purchase" and pr.get("coupon"):
            order = int(pr["transaction_id"].rsplit("-", 1)[1])  # TXN-<seed>-<device>-<order number>
            coupons[pr["coupon"]] += 1
            if pr["coupon"].startswith("WELCOME"):
                assert order == 1, pr
    assert coupons["WELCOME15"] > 5 and len(coupons) >= 2


def test_free_space_drifts_the_os_updates_and_storage_totals_vary_by_model(identity: Path) -> None:
    free: dict[int, list[float]] = defaultdict(list)
    versions: dict[int, list[str]] = defaultdict(list)
    totals: dict[str, set[str]] = defaultdict(set)  # reported total -> models
    for device, starts in starts_by_device(identity).items():
        for body in starts:
            info = body["additional_info"]
            free[device].append(float(info["freeSpaceExternalStorage"]))
            versions[device].append(info["osVersion"])
            assert float(info["freeSpaceExternalStorage"]) < float(info["externalStorageSize"])
        info = starts[0]["additional_info"]
        total = float(info["externalStorageSize"])
        if 100 < total < 128:  # a 128 GB model
            totals[info["externalStorageSize"]].add(info["deviceModelName"])
    several = [f for f in free.values() if len(f) > 1]
    assert sum(1 for f in several if len(set(f)) > 1) / len(several) > 0.9
    updated = [v for v in versions.values() if len(set(v)) > 1]
    assert updated, "some devices install an OS update during the period"
    for v in updated:  # only ever forward
        assert [realism.version(x) for x in v] == sorted(realism.version(x) for x in v), v
    # A 128 GB phone reports a total that depends on its model (system partition, GB vs GiB).
    assert len(totals) >= 10, totals


#: Countries whose fiction ranges libphonenumber accepts; elsewhere (IN, JP, BR: no fiction range;
#: IE: ComReg's drama range) numbers stay unassignable on purpose (simulator/catalog/phone_ranges.csv).
_VALIDATING = {"United States", "Canada", "United Kingdom", "Australia", "Germany", "Sweden"}


def test_phones_validate_where_a_fiction_range_does(identity: Path) -> None:
    phonenumbers = pytest.importorskip("phonenumbers")
    seen = Counter()
    for body in bodies(identity, "identify"):
        traits = body["traits"]
        if "phone" not in traits:
            continue
        valid = phonenumbers.is_valid_number(phonenumbers.parse(traits["phone"]))
        seen[(traits["country"] in _VALIDATING, valid)] += 1
        if traits["country"] in _VALIDATING:
            assert valid, traits
        else:
            assert not valid, ("a number that validates there could be someone's", traits)
    assert seen[(True, True)] > 100 and seen[(False, False)] > 100, seen


def test_read_back_headers_name_the_webview_the_device_runs_then(identity: Path) -> None:
    agent: dict[int, str] = {}
    changed = 0
    for rec in read_dataset(identity):
        body = rec.request.body
        if rec.request.endpoint == "externalIds":
            new = body["additional_info"]["user_agent"]
            changed += rec.device in agent and agent[rec.device] != new
            agent[rec.device] = new
        assert rec.request.headers["CL-User-Agent"] == agent[rec.device]
    assert changed > 0, "some devices update their OS (and WebView user agent) during the period"
