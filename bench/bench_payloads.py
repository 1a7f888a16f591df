"""Microseconds to build and serialise one request of each kind (issue #2's budget: < 10 us an event)."""

from __future__ import annotations

import random
import timeit

from simulator import identity, payloads
from simulator.payloads import Device, Person

N = 200_000


def _fixtures() -> tuple[Device, Person, str, str]:
    rnd = random.Random(1)
    device = Device(
        platform="android",
        ad_id=identity.uuid4_from(rnd),
        ga_app_instance_id="a3f9c1e27b4d4e8f9a0b1c2d3e4f5a6b",
        country="IN",
        currency="INR",
        info={
            "limitAdTracking": False,
            "fcmToken": "dGhpc2lzYW5pbnN0YWxs:APA91b" + "x" * 120,
            "user_agent": "Mozilla/5.0 (Linux; Android 14; Pixel 6 Build/AP1A.240505.004; wv) AppleWebKit/537.36 "
            "(KHTML, like Gecko) Version/4.0 Chrome/124.0.6367.82 Mobile Safari/537.36",
            "appPackageName": "com.example.shop",
            "app_version_name": "3.4.0",
            "carrier": "Jio",
            "deviceModelName": "Pixel 6",
            "deviceTimeZone": "Asia/Kolkata",
            "extInfoVersion": "a2",
            "externalStorageSize": "128",
            "fingerprint": "google/oriole/oriole:14/AP1A.240505.004/11583682:user/release-keys",
            "freeSpaceExternalStorage": "41",
            "locale": "en-IN",
            "longVersion": "340",
            "osVersion": "14",
            "screenDensity": "420",
            "screenHeight": "915",
            "screenWidth": "411",
            "shortVersion": "3.4.0",
        },
    )
    person = Person(
        first_name="Nelson",
        last_name="Jaffery",
        email="nelson.jaffery@example.com",
        phone="+15555550123",
        gender="male",
        age=25,
        country="India",
        state="Maharashtra",
        city="Thane",
        zip="400601",
        address1="12 Hill Road",
        address2="Flat 4",
    )
    uid = identity.user_id("app-1", identity.uuid4_from(rnd))
    return device, person, uid, identity.session_id(identity.uuid4_from(rnd))


def main() -> dict[str, float]:
    device, person, uid, sid = _fixtures()
    by = payloads.identify_by(person)
    props = {
        "value": 118.0,
        "currency": "INR",
        "transaction_id": "TXN-000123",
        "shipping": 10,
        "tax": 8,
        "discount": 0,
        "coupon": "SAVE10",
    }
    items = [{"product_id": "SKU-001", "product_name": "Running Shoes", "product_price": 100, "product_quantity": 1}]
    cases = {
        "externalIds": lambda: payloads.dumps(payloads.session_start("app-1", device, uid, sid, "1773294315")),
        "identify": lambda: payloads.dumps(
            payloads.identify("app-1", device, uid, sid, "1773294315", person, payloads.iso_utc(1773294315.0), by)
        ),
        "event": lambda: payloads.dumps(
            payloads.event("app-1", uid, sid, "Purchase", payloads.iso_utc(1773294315.0), by, props, products=items)
        ),
        "event (headers too)": lambda: (
            payloads.headers(device),
            payloads.dumps(
                payloads.event("app-1", uid, sid, "View Item", payloads.iso_utc(1773294315.0), by, {"value": 100})
            ),
        ),
    }
    figures: dict[str, float] = {}
    print(f"{'request':<22} {'us to build + serialise':>24}")
    for name, fn in cases.items():
        best = min(timeit.repeat(fn, number=N, repeat=3)) / N * 1e6
        figures[f"{name}_us"] = round(best, 3)
        print(f"{name:<22} {best:>24.2f}")
    verdict = "OK" if figures["event_us"] < 10 else "OVER BUDGET"
    print(f"event budget 10 us: {verdict}")
    return figures
