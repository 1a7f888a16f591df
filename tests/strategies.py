"""Hypothesis strategies for devices, people and events: the builders' whole input space."""

from __future__ import annotations

import string

from hypothesis import strategies as st

from simulator import identity
from simulator.payloads import Device, Person

_hex32 = st.text("0123456789abcdef", min_size=32, max_size=32)
_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60)
_uuid4 = st.uuids(version=4).map(str)
_app_ids = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.\-]{0,20}\Z")
_emails = st.builds(
    lambda user, dom: f"{user}@{dom}",
    st.text(string.ascii_lowercase + string.digits + "._", min_size=1, max_size=20),
    st.sampled_from(["example.com", "example.net", "example.org", "mail.test"]),
)
_phones = st.from_regex(r"\A\+[1-9][0-9]{6,14}\Z")


@st.composite
def devices(draw: st.DrawFn) -> Device:
    platform = draw(st.sampled_from(["ios", "android"]))
    lat = draw(st.booleans())
    ad = identity.ZERO_AD_ID if lat else draw(_uuid4)
    info = {
        "limitAdTracking": lat,
        "extInfoVersion": "i2" if platform == "ios" else "a2",
        **{
            k: draw(_text)
            for k in (
                "fcmToken",
                "user_agent",
                "appPackageName",
                "app_version_name",
                "carrier",
                "deviceModelName",
                "deviceTimeZone",
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
            )
        },
    }
    return Device(
        platform=platform,
        ad_id=ad.upper() if platform == "ios" else ad,
        ga_app_instance_id=draw(_hex32),
        info=info,
        country=draw(st.sampled_from(["US", "IN", "GB", "JP"])),
        currency=draw(st.sampled_from(["USD", "INR", "GBP", "JPY"])),
    )


@st.composite
def people(draw: st.DrawFn) -> Person:
    return Person(
        first_name=draw(_text),
        last_name=draw(_text),
        email=draw(_emails),
        phone=draw(_phones),
        gender=draw(st.sampled_from(["male", "female", "non-binary"])),
        age=draw(st.integers(13, 100)),
        country=draw(_text),
        state=draw(_text),
        city=draw(_text),
        zip=draw(_text),
        address1=draw(_text),
        address2=draw(_text),
    )


app_ids = _app_ids
uuid4s = _uuid4
separators = st.sampled_from(["", "_"])
timestamps = st.floats(min_value=0, max_value=4_102_444_800)  # up to 2100-01-01
amounts = st.floats(min_value=0, max_value=1e7, allow_nan=False)
text = _text
