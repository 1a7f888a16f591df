"""The load test plays a device one session at a time, as a phone does.

Users draw sessions from their process's ``RunContext``. A device's next session must not be handed
to a user while another user still plays its previous one: the collector would see one phone in
two sessions at once, and events carrying an ``identify_by`` before the identify that named it
(the mock's "events identifying by an email or phone no identify ever named", which `make run`
printed on every run).
"""

from __future__ import annotations

from pathlib import Path

import gevent
import pytest

from simulator.journey import Request
from simulator.loadtest.context import RunContext, Target
from simulator.scenario import load_scenario


def context(tmp_path: Path, devices: int) -> RunContext:
    path = tmp_path / "one.toml"
    # No reinstalls: a device's user id is then the same in all its sessions, and names the device.
    path.write_text(
        f'extends = "smoke"\nname = "one"\n[population]\ndevices = {devices}\n[journey.reinstall]\nprobability = 0.0\n',
        encoding="utf-8",
    )
    ctx = RunContext(scenario=load_scenario(path), target=Target.of(kind="mock", host="http://127.0.0.1:9"))
    ctx.assign_shard(0, 1)
    return ctx


def device(session: list[Request]) -> str:
    return str(session[0].body["uid"])


def test_a_device_in_a_session_is_not_handed_out_again_until_its_session_ends(tmp_path: Path) -> None:
    ctx = context(tmp_path, devices=3)
    # A window of 1: a returned device may be picked again at once, the tightest a run allows.
    playing = [ctx.next_session(returning_window=1) for _ in range(3)]
    assert all(s is not None for s in playing)
    assert len({device(s) for s in playing if s is not None}) == 3, "three users, three devices"
    first = playing[0]
    assert first is not None
    ctx.session_done(first)
    again = ctx.next_session(returning_window=1)
    assert again is not None and device(again) == device(first)
    assert again[0].session == first[0].session + 1, "its next session, in order"


def test_a_user_waits_for_a_device_to_come_back_rather_than_play_it_twice(tmp_path: Path) -> None:
    ctx = context(tmp_path, devices=1)
    first = ctx.next_session(returning_window=1)
    assert first is not None
    waiting = gevent.spawn(ctx.next_session, returning_window=1)
    gevent.sleep(0.05)
    assert not waiting.ready(), "the only device is in a session: nothing to hand out yet"
    ctx.session_done(first)
    second = waiting.get(timeout=5)
    assert second is not None and device(second) == device(first) and second[0].session == first[0].session + 1


def test_every_life_played_out_ends_the_work(tmp_path: Path) -> None:
    ctx = context(tmp_path, devices=2)
    seen = 0
    while (session := ctx.next_session(returning_window=1)) is not None:
        seen += 1
        ctx.session_done(session)
        if seen > 10_000:
            pytest.fail("the lives never end")
    assert ctx.exhausted and seen >= 2
