"""The platforms' own rules, written down independently of the catalogue, to check generated bodies.

Each rule returns a list of problems (empty: the body is believable). The tables here are the
test's oracle: they come from the platforms' documentation (Android build numbers, Samsung's
firmware naming, Apple's supported-device lists), not from ``simulator/catalog``, so a wrong
catalogue row fails a test instead of being checked against itself.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

#: Android release -> the month its stable AOSP source shipped (android.com release notes).
ANDROID_RELEASED: dict[int, tuple[int, int]] = {
    10: (2019, 9),
    11: (2020, 9),
    12: (2021, 10),
    13: (2022, 8),
    14: (2023, 10),
    15: (2024, 9),
    16: (2025, 6),
}
#: Build-id letter (the first letter of Build.ID) -> release, for the AOSP trains that name it so.
_BUILD_LETTER = {"Q": 10, "R": 11, "S": 12, "T": 13, "U": 14}
#: Pixel/AOSP build-id branch prefixes of the 2024- trains (source.android.com "build numbers").
_BUILD_BRANCH = {
    "AP1A": 14,
    "AP2A": 14,
    "AD1A": 14,  # Pixel 9 series' own Android 14 builds
    "AP3A": 15,
    "AP4A": 15,
    "BP1A": 15,
    "BD4A": 15,  # Pixel 9a's own Android 15 builds
    "BP2A": 16,
    "BP3A": 16,
    "BD3A": 16,  # Pixel 10 series' own Android 16 builds
}
#: Release -> the letter OEMs (Xiaomi, Motorola, OnePlus/OPPO/realme) put in their build names.
_RELEASE_LETTER = {10: "Q", 11: "R", 12: "S", 13: "T", 14: "U", 15: "V", 16: "W"}
_FINGERPRINT = re.compile(r"([^/]+)/([^/]+)/([^:]+):(\d+)/([A-Z0-9]+\.[0-9.]+)/([^:]+):user/release-keys")
#: Samsung: <model><region 2><type S|U><bootloader><OS upgrade A..><year letter><month A-L><build>.
_SAMSUNG = re.compile(
    r"^(?P<model>[A-Z0-9]+?)(?P<csc>[A-Z]{2,3})(?P<kind>[SU])(?P<bl>[0-9A-Z])(?P<os>[A-Z])(?P<year>[A-Z])(?P<month>[A-L])(?P<n>[0-9A-Z])$"
)

#: Pixel -> the month it went on sale (Google's launch announcements, the Google Store).
PIXEL_LAUNCHED: dict[str, tuple[int, int]] = {
    "Pixel 4a": (2020, 8),
    "Pixel 5": (2020, 10),
    "Pixel 6": (2021, 10),
    "Pixel 6 Pro": (2021, 10),
    "Pixel 6a": (2022, 7),
    "Pixel 7": (2022, 10),
    "Pixel 7 Pro": (2022, 10),
    "Pixel 7a": (2023, 5),
    "Pixel 8": (2023, 10),
    "Pixel 9": (2024, 8),
    "Pixel 9a": (2025, 4),
    "Pixel 10": (2025, 8),
}
#: Pixel build id -> the month Google published it (developers.google.com/android/images): a Pixel
#: launched after a build was published shipped a newer one of its own, and never ran that one.
PIXEL_BUILD_PUBLISHED: dict[str, tuple[int, int]] = {
    "QQ3A.200805.001": (2020, 8),
    "RQ3A.211001.001": (2021, 10),
    "SQ3A.220705.004": (2022, 7),
    "TQ3A.230901.001": (2023, 9),
    "AP1A.240505.004": (2024, 5),
    "AD1A.240530.047": (2024, 8),
    "AP4A.250105.002": (2025, 1),
    "BD4A.250405.003": (2025, 4),
    "BP2A.250605.031": (2025, 6),
    "BD3A.250721.001": (2025, 8),
}

#: iPhone identifier -> the last iOS major it received (Apple's supported-device lists per release).
IOS_MAX_MAJOR: dict[str, int] = {
    "iPhone9,1": 15,
    "iPhone9,3": 15,
    "iPhone10,4": 16,
    "iPhone10,6": 16,
    "iPhone11,8": 18,
    "iPhone11,2": 18,
    "iPhone11,6": 18,
}
#: The first major of models not listed above is at most the newest (they all run iOS 26).
IOS_NEWEST_MAJOR = 26
#: iOS version -> the day Apple released it (support.apple.com/100100).
IOS_RELEASED: dict[str, datetime.date] = {
    v: datetime.date.fromisoformat(d)
    for v, d in (
        ("15.8.3", "2024-07-29"),
        ("16.7.10", "2024-08-07"),
        ("17.5.1", "2024-05-20"),
        ("17.6.1", "2024-08-07"),
        ("18.1.1", "2024-11-19"),
        ("18.3.1", "2025-02-10"),
        ("18.3.2", "2025-03-10"),
        ("18.5", "2025-05-12"),
        ("18.6.2", "2025-08-20"),
        ("26.0", "2025-09-15"),
        ("26.0.1", "2025-09-29"),
        ("26.1", "2025-11-03"),
    )
}
#: iPhone/iPad identifier -> the day it went on sale (Apple Newsroom announcements).
IOS_LAUNCHED: dict[str, datetime.date] = {
    k: datetime.date.fromisoformat(d)
    for k, d in (
        ("iPhone9,3", "2016-09-16"),
        ("iPhone10,4", "2017-09-22"),
        ("iPhone10,6", "2017-11-03"),
        ("iPhone11,2", "2018-09-21"),
        ("iPhone11,8", "2018-10-26"),
        ("iPhone12,1", "2019-09-20"),
        ("iPhone12,3", "2019-09-20"),
        ("iPhone12,5", "2019-09-20"),
        ("iPhone12,8", "2020-04-24"),
        ("iPhone13,2", "2020-10-23"),
        ("iPhone13,3", "2020-10-23"),
        ("iPhone13,4", "2020-11-13"),
        ("iPhone14,5", "2021-09-24"),
        ("iPhone14,2", "2021-09-24"),
        ("iPhone14,3", "2021-09-24"),
        ("iPhone14,6", "2022-03-18"),
        ("iPhone14,7", "2022-09-16"),
        ("iPhone14,8", "2022-10-07"),
        ("iPhone15,2", "2022-09-16"),
        ("iPhone15,3", "2022-09-16"),
        ("iPhone15,4", "2023-09-22"),
        ("iPhone15,5", "2023-09-22"),
        ("iPhone16,1", "2023-09-22"),
        ("iPhone16,2", "2023-09-22"),
        ("iPhone17,1", "2024-09-20"),
        ("iPhone17,2", "2024-09-20"),
        ("iPhone17,3", "2024-09-20"),
        ("iPhone17,4", "2024-09-20"),
        ("iPhone17,5", "2025-02-28"),
        ("iPhone18,1", "2025-09-19"),
        ("iPhone18,2", "2025-09-19"),
        ("iPhone18,3", "2025-09-19"),
        ("iPad12,1", "2021-09-24"),
        ("iPad13,18", "2022-10-26"),
        ("iPad14,1", "2021-09-24"),
        ("iPad14,8", "2024-05-15"),
        ("iPad16,3", "2024-05-15"),
    )
}
#: Security trains Apple ships only to models left on that major (e.g. 15.8.x for iPhone 6s/7).
IOS_LEGACY_TRAINS = {(15, 8): 15, (16, 7): 16}


def version(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.split("."))


def _samsung_date(m: re.Match[str]) -> tuple[int, int]:
    # Year letters: R = 2018 ... X = 2024, Y = 2025, Z = 2026 (Samsung firmware naming).
    return 2018 + ord(m["year"]) - ord("R"), ord(m["month"]) - ord("A") + 1


def android_problems(info: dict[str, Any], *, on: datetime.date | None = None) -> list[str]:
    """What contradicts itself in an Android ``additional_info`` (fingerprint, build, UA, patch date)."""
    out: list[str] = []
    fp = str(info.get("fingerprint", ""))
    m = _FINGERPRINT.fullmatch(fp)
    if not m:
        return [f"fingerprint {fp!r} is not BRAND/PRODUCT/DEVICE:RELEASE/ID/INCREMENTAL:user/release-keys"]
    brand, _product, _device, rel, build, inc = m.groups()
    r = int(rel)
    if rel != info.get("osVersion"):
        out.append(f"fingerprint release {rel} but osVersion {info.get('osVersion')}")
    if r not in ANDROID_RELEASED:
        return [*out, f"unknown Android release {r}"]
    want = _BUILD_LETTER.get(build[0]) if build[0] in _BUILD_LETTER else _BUILD_BRANCH.get(build[:4])
    if want != r:
        out.append(f"build id {build} belongs to Android {want}, not {r}")
    date = re.match(r"[A-Z0-9]{4}\.(\d\d)(\d\d)\d\d", build)
    if date:
        ym = (2000 + int(date[1]), int(date[2]))
        lo = ANDROID_RELEASED[r]
        if ym < (lo[0] - (1 if lo[1] <= 4 else 0), (lo[1] - 4 - 1) % 12 + 1):  # AOSP branches ~4 months early
            out.append(f"build id {build} dated {ym} predates Android {r}")
        if on is not None and ym > (on.year, on.month):
            out.append(f"build id {build} dated {ym} is after the simulated date {on}")
    if brand == "google":
        model = str(info.get("deviceModelName", ""))
        launched, published = PIXEL_LAUNCHED.get(model), PIXEL_BUILD_PUBLISHED.get(build)
        if launched is None or published is None:
            out.append(f"{model} on {build}: not a Pixel or a Pixel build these rules know (add it)")
        elif published < launched:
            out.append(f"{model} (on sale {launched}) on {build}, published {published}: before the phone existed")
    if brand == "samsung":
        sm = _SAMSUNG.match(inc)
        if not sm:
            out.append(f"Samsung incremental {inc!r} does not follow Samsung's scheme")
        else:
            ym = _samsung_date(sm)
            if ym < ANDROID_RELEASED[r]:
                out.append(f"Samsung firmware of {ym} on Android {r} (released {ANDROID_RELEASED[r]})")
            if on is not None and ym > (on.year, on.month):
                out.append(f"Samsung firmware of {ym} is after the simulated date {on}")
    elif brand in ("Redmi", "POCO", "Xiaomi"):
        xm = re.match(r"(?:V\d+|OS\d)\.\d\.\d+\.\d\.([A-Z])", inc)
        if not xm or xm[1] != _RELEASE_LETTER[r]:
            out.append(f"Xiaomi build {inc!r} is not an Android {r} ({_RELEASE_LETTER[r]}) build")
    elif brand in ("motorola", "OnePlus", "OPPO", "realme") and inc[0] != _RELEASE_LETTER[r]:
        out.append(f"{brand} build {inc!r} is not an Android {r} ({_RELEASE_LETTER[r]}) build")
    ua = str(info.get("user_agent", ""))
    model = str(info.get("deviceModelName", ""))
    if f"Android {rel}; {model} Build/{build}; wv)" not in ua:
        out.append(f"user agent {ua!r} disagrees with the fingerprint (Android {rel}, {model}, {build})")
    return out


def ios_problems(info: dict[str, Any]) -> list[str]:
    """An iOS ``additional_info``: a version the model received, ``--`` carrier from 16.4 on."""
    out: list[str] = []
    v = version(str(info["osVersion"]))
    model = str(info["deviceModelName"])
    top = IOS_MAX_MAJOR.get(model, IOS_NEWEST_MAJOR)
    if v[0] > top:
        out.append(f"{model} never received iOS {v[0]} (its last is {top})")
    train = IOS_LEGACY_TRAINS.get(v[:2])
    launched, released = IOS_LAUNCHED.get(model), IOS_RELEASED.get(str(info["osVersion"]))
    if launched is None or released is None:
        out.append(f"{model} on {info['osVersion']}: a model or version these rules do not know (add it)")
    else:
        # A model ships with the newest release out when it goes on sale, never an older one.
        shipped = max(
            (d for k, d in IOS_RELEASED.items() if d <= launched and version(k)[:2] not in IOS_LEGACY_TRAINS),
            default=None,
        )
        if shipped is not None and released < shipped:
            out.append(f"{model} (on sale {launched}) on {info['osVersion']} ({released}): older than it shipped with")
    if train is not None and top != train:
        out.append(f"{'.'.join(map(str, v))} shipped only to models left on iOS {train}, not {model} (iOS {top})")
    if v >= (16, 4) and info.get("carrier") != "--":
        out.append(f"carrier {info.get('carrier')!r} on iOS {info['osVersion']}: CTCarrier returns '--' since 16.4")
    ua = str(info.get("user_agent", ""))
    # From iOS 26, WebKit freezes the version its user agent names at 18_6.
    os_token = "18_6" if v[0] >= 26 else "_".join(map(str, v))
    if model.startswith("iPad"):  # iPadOS WKWebView: a desktop (Mac) user agent
        if "(Macintosh; Intel Mac OS X 10_15_7)" not in ua:
            out.append(f"iPad user agent {ua!r} is not the desktop-class one")
    elif f"OS {os_token} like Mac OS X" not in ua:
        out.append(f"user agent {ua!r} does not name iOS {info['osVersion']}")
    return out


def device_problems(info: dict[str, Any], *, on: datetime.date | None = None) -> list[str]:
    """Every platform rule for one ``additional_info`` block."""
    return ios_problems(info) if info.get("extInfoVersion") == "i2" else android_problems(info, on=on)


#: Real postcodes per city (Deutsche Post PLZ directory; An Post Eircode routing keys; Royal Mail
#: postcode districts; USPS ZIP lookups): the codes or the pattern of codes that exist.
_DE = {
    "Berlin": "10115 10117 10119 10178 10179 10243 10245 10247 10249 10405 10407 10409 10435 10437 10439 "
    "10551 10553 10555 10557 10559 10585 10587 10589 10623 10625 10627 10629 10707 10709 10711 10713 10715 "
    "10717 10719 10777 10779 10781 10783 10785 10787 10789 10823 10825 10827 10829 10961 10963 10965 10967 "
    "10969 10997 10999 12043 12045 12047 12049 12051 12053 12055 12057 12059",
    "Hamburg": "20095 20097 20099 20144 20146 20148 20149 20249 20251 20253 20255 20257 20259 20354 20355 "
    "20357 20359 22765 22767 22769",
    "Frankfurt am Main": "60311 60313 60314 60316 60318 60322 60323 60325 60326 60327 60385 60386 60389 "
    "60431 60433 60435 60437 60439 60486 60487 60488 60489 60594 60596 60598 60599",
    "Köln": "50667 50668 50670 50672 50674 50676 50677 50678 50679 50733 50735 50737 50739 50823 50825 "
    "50827 50829 50931 50933 50935 50937 50939",
    "München": "80331 80333 80335 80336 80337 80339 80469 80538 80539 80634 80636 80637 80638 80639 80796 "
    "80797 80798 80799 80801 80802 80803 80804 80805 80807 80809 81369 81371 81373 81375 81377 81379 81541 "
    "81543 81545 81547 81549 81667 81669 81671 81673 81675 81677 81679",
}
POSTCODES: dict[str, str] = {city: "|".join(codes.split()) for city, codes in _DE.items()}
POSTCODES |= {
    # Eircode routing keys: D01-D18, D20, D22, D24, D6W (no D00, D19, D21, D23); T12 Cork; H91 Galway.
    "Dublin": r"(D0[1-9]|D1[0-8]|D2[024]|D6W) [ACDEFHKNPRTVWXY0-9]{4}",
    "Cork": r"T12 [ACDEFHKNPRTVWXY0-9]{4}",
    "Galway": r"H91 [ACDEFHKNPRTVWXY0-9]{4}",
    # Royal Mail: these areas' districts start at 1 (no M0, B0, LS0, BS0, G0, EH0); London N1-N22.
    "London": r"N([1-9]|1[0-9]|2[0-2]) [0-9][ABD-HJLNP-UW-Z]{2}",
    "Manchester": r"M[1-9] [0-9][ABD-HJLNP-UW-Z]{2}",
    "Birmingham": r"B[1-9] [0-9][ABD-HJLNP-UW-Z]{2}",
    "Leeds": r"LS[1-9] [0-9][ABD-HJLNP-UW-Z]{2}",
    "Bristol": r"BS[1-9] [0-9][ABD-HJLNP-UW-Z]{2}",
    "Glasgow": r"G[1-9] [0-9][ABD-HJLNP-UW-Z]{2}",
    "Edinburgh": r"EH[1-9] [0-9][ABD-HJLNP-UW-Z]{2}",
    # USPS: Manhattan's residential ZIPs begin at 10001; Miami's at 33125 (331xx below do not exist).
    "New York": r"100(0[1-79]|1[0-46-9]|2[1-9]|3[0-9]|40)",
    "Miami": r"331(2[5-9]|[3-9][0-9])",
}


def postcode_problems(traits: dict[str, Any]) -> list[str]:
    city, code = traits.get("city"), traits.get("zip")
    pattern = POSTCODES.get(str(city))
    if pattern is None or code is None or re.fullmatch(pattern, str(code)):
        return []
    return [f"postcode {code!r} does not exist in {city}"]
