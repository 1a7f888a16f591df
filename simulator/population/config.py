"""The app under test and who its devices are: the ``[app]`` and ``[population]`` options of a scenario."""

from __future__ import annotations

from collections.abc import Mapping
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
