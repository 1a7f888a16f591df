"""The app under test and who its devices are: the ``[app]`` and ``[population]`` options of a scenario."""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

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

    #: Number of devices (a scenario needs one at least: with none, nothing is sent).
    devices: int = field(default=1000, metadata={"check": "positive"})
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


def config_problems(config: PopulationConfig, app: AppConfig, countries: Sequence[str]) -> list[tuple[str, str]]:
    """What is wrong with ``[population]`` and ``[app]`` given the catalogue's ``countries``, as (field
    path, message) pairs: the scenario's rules report each (file, path, value) when the file loads, and
    ``Population.build`` refuses a configuration built in Python with the first."""
    out: list[tuple[str, str]] = []
    for name in ("att_opt_in", "android_limit_ad_tracking", "two_device_people"):
        x = getattr(config, name)
        if not 0.0 <= x <= 1.0:
            out.append((f"population.{name}", f"expected a probability between 0 and 1, got {x!r}"))
    if not 0.0 < config.release_decay <= 1.0:
        out.append(
            (
                "population.release_decay",
                "expected a value in (0, 1] (each release is installed this many times as often as the next "
                f"newer one), got {config.release_decay!r}",
            )
        )
    if not app.releases:
        out.append(("app.releases", "expected at least one release, oldest first"))
    for k, rel in enumerate(app.releases):
        try:
            if rel.released:
                datetime.date.fromisoformat(rel.released)
        except ValueError:
            out.append(
                (f"app.releases[{k}].released", f'expected an ISO date such as "2025-11-17", got "{rel.released}"')
            )
    for table in ("countries", "ios_share"):
        for key, x in getattr(config, table).items():
            path = f"population.{table}.{key}"
            if key not in countries:
                close = (
                    f"did you mean '{key.upper()}'? (codes are upper case)"
                    if key.upper() in countries
                    else f"the catalogue has {', '.join(countries)} (add it to simulator/catalog/*.csv)"
                )
                out.append((path, f'unknown country "{key}"; {close}'))
            elif table == "ios_share" and not 0.0 <= x <= 1.0:
                out.append((path, f"expected a probability between 0 and 1, got {x!r}"))
            elif table == "countries" and not x >= 0:
                out.append((path, f"expected a weight of at least 0, got {x!r}"))
    if config.countries and not any(x > 0 for x in config.countries.values()):
        out.append(("population.countries", "expected at least one weight above 0"))
    return out
