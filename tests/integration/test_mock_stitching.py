"""Identity stitching stories, told over HTTP and checked through the admin API."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from simulator.mock import MockServer
from tests.integration import mock_support as ms

pytestmark = pytest.mark.integration


@pytest.fixture
def mock() -> Iterator[MockServer]:
    with MockServer() as server:
        yield server


def _send(mock: MockServer, *requests: tuple[str, dict[str, Any]]) -> None:
    conn = ms.connect(mock.url)
    for endpoint, body in requests:
        status, payload = ms.post(conn, ms.PATHS[endpoint], body)
        assert status == 200, payload


def _profile(mock: MockServer, uid: str) -> dict[str, Any]:
    return ms.get_json(ms.connect(mock.url), f"/_admin/profiles/{uid}")  # type: ignore[no-any-return]


def test_anonymous_then_identified_then_events_are_attributed(mock: MockServer) -> None:
    _send(
        mock,
        ("externalIds", ms.session_start(1)),
        ("events", ms.event(1, name="View Item")),  # anonymous: identify_by {}
        ("identify", ms.identify(1)),
        ("events", ms.event(1, who=1, name="Purchase")),
    )
    p = _profile(mock, ms.uid(1))
    assert p["identified"] and p["emails"] == ["ada1@example.com"] and p["phones"] == ["+15550100001"]
    assert p["events"] == 2 and p["identifies"] == 1 and p["sessions"] == 1
    assert p["traits"]["first_name"] == "Ada"
    assert p["additional_info"]["extInfoVersion"] == "a2"
    events = ms.get_json(ms.connect(mock.url), f"/_admin/events?user_id={ms.uid(1)}&limit=10")["events"]
    assert [e["body"]["event_name"] for e in events] == ["Purchase", "View Item"]
    stats = mock.stats()
    assert (stats["profiles"], stats["identified_profiles"], stats["merges"]) == (1, 1, 0)
    assert stats["warnings"]["unknown_session"] == 0


def test_a_reinstall_joins_the_old_profile_once_identified(mock: MockServer) -> None:
    _send(
        mock,
        ("externalIds", ms.session_start(1, install=0)),
        ("identify", ms.identify(1, install=0)),
        ("events", ms.event(1, install=0, who=1)),
        # Reinstalled: new user id, new session, anonymous at first.
        ("externalIds", ms.session_start(1, install=1, session=1)),
        ("events", ms.event(1, install=1, session=1)),
    )
    assert _profile(mock, ms.uid(1, 1))["profile_id"] != _profile(mock, ms.uid(1, 0))["profile_id"]
    assert mock.stats()["profiles"] == 2
    _send(mock, ("identify", ms.identify(1, install=1, session=1)))
    old, new = _profile(mock, ms.uid(1, 0)), _profile(mock, ms.uid(1, 1))
    assert old == new
    assert old["user_ids"] == sorted([ms.uid(1, 0), ms.uid(1, 1)])
    assert old["events"] == 2 and old["sessions"] == 2
    stats = mock.stats()
    assert (stats["profiles"], stats["merges"]) == (1, 1)
    # Events stored under either user id come back for the person.
    events = ms.get_json(ms.connect(mock.url), f"/_admin/events?user_id={ms.uid(1, 0)}")["events"]
    assert {e["uid"] for e in events} == {ms.uid(1, 0), ms.uid(1, 1)}


def test_two_devices_of_one_person_end_in_one_profile(mock: MockServer) -> None:
    phone_body = ms.identify(2, who=7)
    tablet_body = ms.identify(3, who=7)
    tablet_body["identify_by"] = {"identify_by_phone": ms.person(7)["phone"]}  # the tablet knows the phone only
    _send(
        mock,
        ("externalIds", ms.session_start(2)),
        ("identify", phone_body),
        ("externalIds", ms.session_start(3, platform="ios")),
        ("identify", tablet_body),
        ("events", ms.event(3, who=7)),
    )
    a, b = _profile(mock, ms.uid(2)), _profile(mock, ms.uid(3))
    assert a == b and a["user_ids"] == sorted([ms.uid(2), ms.uid(3)])
    assert a["events"] == 1 and a["identifies"] == 2
    assert mock.stats()["merges"] == 1


def test_an_event_naming_an_identified_person_is_theirs_whatever_the_user_id(mock: MockServer) -> None:
    _send(
        mock,
        ("externalIds", ms.session_start(1)),
        ("identify", ms.identify(1)),
        ("externalIds", ms.session_start(2)),
        ("events", ms.event(2, who=1)),
    )
    assert _profile(mock, ms.uid(1))["events"] == 1
    assert _profile(mock, ms.uid(2))["events"] == 0


def test_protocol_warnings_are_counted_not_rejected(mock: MockServer) -> None:
    _send(
        mock,
        ("events", ms.event(4)),  # no externalIds yet
        ("externalIds", ms.session_start(5)),
        ("externalIds", {**ms.session_start(6), "sid": ms.sid(5)}),  # session of user 5
        ("externalIds", ms.session_start(4)),
        ("events", ms.event(4, added_at="2099-01-01T00:00:00Z")),
        ("events", ms.event(4, added_at="2020-01-01T00:00:00Z")),
        ("events", ms.event(4, who=99)),
    )  # nobody identified as 99
    w = mock.stats()["warnings"]
    assert (w["unknown_session"], w["shared_session"], w["added_at_future"], w["unknown_identity"]) == (1, 1, 1, 1)
    assert w["added_at_stale"] >= 1
    assert mock.stats()["accepted"]["events"] == 4


def test_unknown_profile_is_a_404_that_says_what_to_do(mock: MockServer) -> None:
    conn = ms.connect(mock.url)
    conn.request("GET", f"/_admin/profiles/{ms.uid(42)}")
    resp = conn.getresponse()
    assert resp.status == 404
    assert "send /app/externalIds first" in orjson.loads(resp.read())["validation_error"]["error_message"]


def test_a_restart_on_an_existing_store_never_mixes_people(tmp_path: Any) -> None:
    """Profile ids of a new run continue after the store's: an earlier run's rows keep their owner."""
    store = str(tmp_path / "mock.sqlite3")
    with MockServer(store=store) as first:
        _send(first, ("externalIds", ms.session_start(1)), ("events", ms.event(1, name="First run")))
    with MockServer(store=store) as second:
        _send(second, ("externalIds", ms.session_start(2)), ("events", ms.event(2, name="Second run")))
        conn = ms.connect(second.url)
        mine = ms.get_json(conn, f"/_admin/events?user_id={ms.uid(2)}")["events"]
        assert [(e["uid"], e["body"]["event_name"]) for e in mine] == [(ms.uid(2), "Second run")], mine
        everything = ms.get_json(conn, "/_admin/events")["events"]
        assert len(everything) == 2  # the earlier run's rows are kept
        assert len({e["profile_id"] for e in everything}) == 2, everything


def test_an_optional_null_never_overwrites_what_the_profile_knows(mock: MockServer) -> None:
    """The contract reads an optional null as absent, so the profile must too. Before: an identify
    whose external_ids and additional_info carried nulls wiped the device's advertising id and model
    from its profile."""
    start = ms.session_start(1)
    known_ext = {k: v for k, v in start["external_ids"].items() if v is not None and k != "customerlabs_user_id"}
    known_info = {k: v for k, v in start["additional_info"].items() if v is not None and k != "extInfoVersion"}
    body = ms.identify(1)
    body["external_ids"] = {**body["external_ids"], **dict.fromkeys(known_ext)}
    body["additional_info"] = {**body.get("additional_info", {}), **dict.fromkeys(known_info)}
    _send(mock, ("externalIds", start))
    conn = ms.connect(mock.url)
    status, payload = ms.post(conn, ms.PATHS["identify"], body)
    p = _profile(mock, ms.uid(1))
    assert status == 200, payload
    assert {k: p["external_ids"].get(k) for k in known_ext} == known_ext, p["external_ids"]
    assert {k: p["additional_info"].get(k) for k in known_info} == known_info, p["additional_info"]


def test_an_identify_of_a_session_never_started_is_told_as_one(mock: MockServer) -> None:
    # `loadsim run smoke --endpoint identify` sends identifies only: the report said "16938 events
    # for a session the mock never saw start" of a run that sent no event.
    from simulator.payloads import iso_utc
    from simulator.report.outcome import mock_warnings

    _send(mock, ("identify", ms.identify(7, added_at=iso_utc(time.time()))))
    (said,) = mock_warnings({"mock": mock.stats()})
    assert said.startswith("1 identify or event request for a session the mock never saw start"), said
