"""The realism catalogue: enough rows, figures that agree across tables, sources named, real identifiers."""

from __future__ import annotations

import datetime
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from simulator import catalog

CAT = catalog.load()
E164 = re.compile(r"\+[1-9][0-9]{6,14}\Z")


def test_tables_agree_with_each_other():
    assert catalog.check() == []


POPULATION_TABLES = (
    "android_brand_shares",
    "android_models",
    "android_releases",
    "carriers",
    "countries",
    "email_domains",
    "ios_models",
    "ios_releases",
    "locales",
    "phone_ranges",
    "regions",
    "webview",
)


@pytest.mark.parametrize("name", POPULATION_TABLES)
def test_every_table_says_where_its_figures_come_from(name):
    for path in (Path(catalog.DIRECTORY) / f"{name}.csv",):
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("# "), f"{path.name} lacks a provenance header line"


def test_catalogue_is_big_enough_for_a_realistic_population():
    assert len(CAT.android_models) >= 40
    assert len({m.manufacturer for m in CAT.android_models}) >= 8
    assert len(CAT.ios_models) >= 15
    assert len(CAT.countries) >= 10
    for c in CAT.countries:
        assert any(x.country == c.code for x in CAT.carriers), c.code
        assert any(x.country == c.code for x in CAT.locales), c.code
        assert any(x.country == c.code for x in CAT.regions), c.code


def test_ios_shares_match_the_published_figures():
    share = {c.code: c.ios_share for c in CAT.countries}
    assert share["US"] == pytest.approx(0.58, abs=0.03)
    assert share["IN"] == pytest.approx(0.04, abs=0.02)
    assert share["JP"] == pytest.approx(0.64, abs=0.03)
    assert share["GB"] == pytest.approx(0.48, abs=0.03)


def test_iphone_identifiers_and_screens_are_apples():
    by_id = {m.identifier: m for m in CAT.ios_models}
    assert by_id["iPhone14,7"].name == "iPhone 14"
    pro14 = by_id["iPhone15,2"]
    assert (pro14.name, pro14.width_pt, pro14.height_pt, pro14.scale) == ("iPhone 14 Pro", 393, 852, 3)
    assert by_id["iPhone15,4"].name == "iPhone 15"
    assert by_id["iPhone16,1"].name == "iPhone 15 Pro"
    assert by_id["iPhone17,1"].name == "iPhone 16 Pro"
    for m in CAT.ios_models:
        assert re.fullmatch(r"iPhone\d{1,2},\d|iPad\d{1,2},\d{1,2}", m.identifier), m.identifier
        widest = 1100 if m.identifier.startswith("iPad") else 440  # tablets: 744-834 pt wide in portrait
        assert m.scale in (2, 3) and 320 <= m.width_pt <= widest and m.min_ios <= m.max_ios
    tablets = sum(m.weight for m in CAT.ios_models if m.identifier.startswith("iPad"))
    assert 0.03 <= tablets / sum(m.weight for m in CAT.ios_models) <= 0.15, "iPads: a few % of iOS devices"


def test_android_screens_are_phone_sized_in_dp():
    for m in CAT.android_models:
        dp_width = m.width_px * 160 // m.dpi
        assert 340 <= dp_width <= 460, (m.model, dp_width)
        assert 120 <= m.dpi <= 640 and m.height_px > m.width_px
        assert m.min_release <= m.max_release
        assert "{n}" in m.incremental


def test_pixel_codenames_follow_the_fingerprint_example():
    pixel6 = next(m for m in CAT.android_models if m.model == "Pixel 6")
    assert (pixel6.brand, pixel6.product, pixel6.device) == ("google", "oriole", "oriole")


def test_country_facts_are_well_formed():
    for c in CAT.countries:
        assert re.fullmatch(r"[A-Z]{2}", c.code) and re.fullmatch(r"[A-Z]{3}", c.currency)
        assert 0 <= c.ios_share <= 1 and c.weight > 0
    for loc in CAT.locales:
        assert re.fullmatch(r"[a-z]{2,3}-[A-Z]{2}", loc.locale)
    for r in CAT.regions:
        ZoneInfo(r.timezone)  # a real IANA zone
        assert set(r.postcode) - set("#? -") or "#" in r.postcode


def test_every_phone_range_is_e164_and_says_why_it_is_safe():
    for p in CAT.phone_ranges:
        for number in (p.first, p.first + p.count - 1):
            assert E164.match(f"+{p.prefix}{number:0{p.digits}d}"), p
        assert p.why and p.kind in ("mobile", "landline", "unassignable")


def test_email_domains_are_reserved():
    for d in CAT.email_domains:
        assert d.domain in ("example.com", "example.net", "example.org") or d.domain.endswith(".test")


def test_unknown_country_error_says_what_to_do():
    with pytest.raises(KeyError, match=r"countries\.csv"):
        CAT.country("XX")


def test_the_catalogue_is_never_more_than_a_year_behind_the_simulated_dates() -> None:
    """Every bundled scenario's calendar (and the engine's default start) finds devices, OS builds and
    WebViews of its own time: a table whose newest row is over a year older fails here."""
    from simulator.journey import DEFAULT_START
    from simulator.scenario import bundled_scenarios, load_scenario

    names = [name for name, _ in bundled_scenarios()]
    dates = {datetime.datetime.fromtimestamp(DEFAULT_START, datetime.UTC).date()}
    for name in names:
        t = load_scenario(name).time
        dates.add(t.start_date() + datetime.timedelta(days=t.days - 1))
    assert len(dates) >= 2
    for on in sorted(dates):
        assert catalog.staleness(on) == [], on
    # And the check can fail: two years on, every dated table is behind.
    later = max(catalog.newest().values()) + datetime.timedelta(days=731)
    assert len(catalog.staleness(later)) == len(catalog.newest())


def test_a_pixel_on_sale_after_its_releases_google_build_needs_a_row_of_its_own() -> None:
    import dataclasses

    without = tuple(r for r in CAT.android_releases if r.device != "tokay")
    problems = catalog.check(dataclasses.replace(CAT, android_releases=without))
    assert problems == [
        "android_releases.csv: Pixel 9 went on sale 2024-08-01 on Android 14, after AP1A.240505.004 (2024-05-05): "
        "add the build it shipped with (a row for device tokay)"
    ]
