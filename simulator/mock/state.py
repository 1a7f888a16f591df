"""What the mock collector knows: exact counters, the reconciliation digest and identity stitching.

Profiles are keyed by user id. ``identify`` links the user id to the person's identities
(``email:<lower-cased email>``, ``phone:<E.164>``); when an identity already belongs to another
profile the two are merged (a reinstall's new user id joins the old profile, two devices of one
person end in one profile), and the merge is counted. Events carrying an ``identify_by`` value
of a known identity are attributed to that identity's profile; other events to their user id's.

Everything here runs on the server's event loop thread; nothing blocks.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable
from typing import Any

from simulator.contract import ENDPOINT_NAMES, iso_utc

__all__ = ["CollectorState", "StitchedProfile"]

#: Session ids remembered (for the unknown/shared session warnings) before the oldest are forgotten.
MAX_SESSIONS = 1_000_000
#: Profiles kept before the oldest tenth is forgotten (about 1.6 KB a device, 2.5 KB identified:
#: measured by ``test_mock_memory``); ``loadsim mock --max-profiles``.
MAX_PROFILES = 200_000
#: ``added_at`` further ahead of the server clock than this is a warning (clock skew is common).
FUTURE_TOLERANCE_S = 300.0
#: ``added_at`` older than this is a warning (an SDK replaying a stale offline queue).
STALE_AFTER_S = 2 * 86400.0
WARNING_NAMES = (
    "unknown_session",  # identify/events of a session whose externalIds was never seen
    "shared_session",  # one session id sent by two user ids
    "added_at_future",
    "added_at_stale",
    "unknown_identity",  # an event's identify_by names nobody identified yet
)


def _known(members: dict[str, Any]) -> dict[str, Any]:
    """The members that say something: the contract reads an optional null as absent, so a null must
    not overwrite what the profile knows (an identify's ``"aaid": null`` wiping the session's AAID)."""
    if None not in members.values():  # the common body, copied by nothing
        return members
    return {k: v for k, v in members.items() if v is not None}


class StitchedProfile:
    """One person as the collector sees them: the user ids and identities stitched together."""

    __slots__ = (
        "additional_info",
        "emails",
        "events",
        "external_ids",
        "id",
        "identifies",
        "merged_ids",
        "phones",
        "sessions",
        "traits",
        "user_ids",
    )

    def __init__(self, pid: int) -> None:
        self.id = pid
        self.user_ids: set[str] = set()
        self.emails: set[str] = set()
        self.phones: set[str] = set()
        #: Profile ids merged into this one (their stored rows still carry the old id).
        self.merged_ids: set[int] = set()
        self.traits: dict[str, Any] = {}
        self.external_ids: dict[str, Any] = {}
        self.additional_info: dict[str, Any] = {}
        self.events = 0
        self.identifies = 0
        self.sessions = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile_id": self.id,
            "user_ids": sorted(self.user_ids),
            "emails": sorted(self.emails),
            "phones": sorted(self.phones),
            "merged_profile_ids": sorted(self.merged_ids),
            "identified": bool(self.emails or self.phones),
            "traits": self.traits,
            "external_ids": self.external_ids,
            "additional_info": self.additional_info,
            "sessions": self.sessions,
            "identifies": self.identifies,
            "events": self.events,
        }


class CollectorState:
    """Counters and profiles. ``reset()`` forgets everything (the store is reset separately)."""

    def __init__(self, *, max_profiles: int = MAX_PROFILES) -> None:
        self.max_profiles = max(1, max_profiles)
        self.reset()

    def reset(self) -> None:
        self.started = time.time()
        self.accepted = dict.fromkeys(ENDPOINT_NAMES, 0)
        self.rejected = dict.fromkeys(ENDPOINT_NAMES, 0)
        self.digests = dict.fromkeys(ENDPOINT_NAMES, 0)
        self.rejections_by_reason: dict[str, int] = {}
        self.problems_by_field: dict[str, int] = {}
        self.webhook_sources: dict[str, int] = {}
        self.warnings = dict.fromkeys(WARNING_NAMES, 0)
        self.faults = {"errors": 0, "held": 0, "resets": 0, "dropped": 0, "delayed": 0, "refusals": 0, "outages": 0}
        self.requests = 0
        self.merges = 0
        self.profiles: dict[int, StitchedProfile] = {}
        self.by_uid: dict[str, StitchedProfile] = {}
        self.by_identity: dict[str, StitchedProfile] = {}
        self.sessions: dict[str, str] = {}
        self.sessions_forgotten = 0
        self.profiles_forgotten = 0
        self._next_id = 1
        self._bounds_at = -1.0
        self._future = ""
        self._stale = ""

    # --- counting ---------------------------------------------------------------------------

    def reject(self, endpoint: str | None, reason: str, fields: Iterable[str] = ()) -> None:
        if endpoint is not None:
            self.rejected[endpoint] += 1
        self.rejections_by_reason[reason] = self.rejections_by_reason.get(reason, 0) + 1
        for f in fields:
            self.problems_by_field[f] = self.problems_by_field.get(f, 0) + 1

    def _check_time(self, added_at: str, now: float) -> None:
        # ISO 8601 UTC strings of one shape sort like the times they name: compare text to two
        # bounds recomputed once a second instead of parsing every timestamp.
        if now - self._bounds_at >= 1.0:
            self._bounds_at = now
            self._future = iso_utc(now + FUTURE_TOLERANCE_S)
            self._stale = iso_utc(now - STALE_AFTER_S)
        if added_at > self._future:
            self.warnings["added_at_future"] += 1
        elif added_at < self._stale:
            self.warnings["added_at_stale"] += 1

    # --- stitching ----------------------------------------------------------------------------

    def number_after(self, pid: int) -> None:
        """Give new profiles ids above ``pid`` (the highest id of a store that already has rows)."""
        self._next_id = max(self._next_id, pid + 1)

    def profile_for_uid(self, uid: str) -> StitchedProfile:
        p = self.by_uid.get(uid)
        if p is None:
            if len(self.profiles) >= self.max_profiles:
                self._forget_oldest_profiles()
            p = StitchedProfile(self._next_id)
            self._next_id += 1
            p.user_ids.add(uid)
            self.profiles[p.id] = p
            self.by_uid[uid] = p
        return p

    def _forget_oldest_profiles(self) -> None:
        """A soak test plays millions of devices: forget the oldest tenth of the profiles (dicts keep
        creation order) rather than grow without bound; the stats count them."""
        drop = max(1, self.max_profiles // 10)
        for pid in list(itertools.islice(self.profiles, drop)):
            p = self.profiles.pop(pid)
            for uid in p.user_ids:
                if self.by_uid.get(uid) is p:
                    del self.by_uid[uid]
            for key in [f"email:{e}" for e in p.emails] + [f"phone:{n}" for n in p.phones]:
                if self.by_identity.get(key) is p:
                    del self.by_identity[key]
        self.profiles_forgotten += drop

    def _merge(self, a: StitchedProfile, b: StitchedProfile) -> StitchedProfile:
        """One profile from two: the older survives, so a person keeps their first profile id."""
        keep, gone = (a, b) if a.id < b.id else (b, a)
        for uid in gone.user_ids:
            self.by_uid[uid] = keep
        for email in gone.emails:
            self.by_identity["email:" + email] = keep
        for phone in gone.phones:
            self.by_identity["phone:" + phone] = keep
        keep.user_ids |= gone.user_ids
        keep.emails |= gone.emails
        keep.phones |= gone.phones
        keep.merged_ids |= gone.merged_ids | {gone.id}
        keep.traits = {**gone.traits, **keep.traits}
        keep.external_ids = {**gone.external_ids, **keep.external_ids}
        keep.additional_info = {**gone.additional_info, **keep.additional_info}
        keep.events += gone.events
        keep.identifies += gone.identifies
        keep.sessions += gone.sessions
        del self.profiles[gone.id]
        self.merges += 1
        return keep

    def _session(self, uid: str, sid: str, *, start: bool) -> None:
        owner = self.sessions.get(sid)
        if owner is None:
            if start:
                if len(self.sessions) >= MAX_SESSIONS:
                    # A soak test opens millions of sessions: forget the oldest tenth in one O(n)
                    # rebuild (dicts keep insertion order) rather than growing without bound.
                    drop = MAX_SESSIONS // 10
                    self.sessions = dict(itertools.islice(self.sessions.items(), drop, None))
                    self.sessions_forgotten += drop
                self.sessions[sid] = uid
            else:
                self.warnings["unknown_session"] += 1
        elif owner != uid:
            self.warnings["shared_session"] += 1

    def external_ids(self, body: dict[str, Any]) -> StitchedProfile:
        uid = body["uid"]
        p = self.profile_for_uid(uid)
        sid = body["sid"]
        if sid not in self.sessions:
            p.sessions += 1
        self._session(uid, sid, start=True)
        p.external_ids.update(_known(body["external_ids"]))
        p.additional_info.update(_known(body["additional_info"]))
        return p

    def identify(self, body: dict[str, Any], now: float) -> StitchedProfile:
        uid = body["uid"]
        p = self.profile_for_uid(uid)
        self._session(uid, body["sid"], start=False)
        self._check_time(body["added_at"], now)
        by = body["identify_by"]
        email, phone = by.get("identify_by_email"), by.get("identify_by_phone")
        for kind, value, bucket in (("email:", email and email.lower(), "emails"), ("phone:", phone, "phones")):
            if not value:
                continue
            key = kind + value
            other = self.by_identity.get(key)
            if other is None:
                self.by_identity[key] = p
                getattr(p, bucket).add(value)
            elif other is not p:
                p = self._merge(other, p)
        p.traits.update(_known(body["traits"]))
        p.external_ids.update(_known(body["external_ids"]))
        p.identifies += 1
        return p

    def event(self, body: dict[str, Any], now: float) -> StitchedProfile:
        uid = body["uid"]
        self._session(uid, body["sid"], start=False)
        self._check_time(body["added_at"], now)
        by = body["identify_by"]
        p = None
        if by:
            email = by.get("identify_by_email")
            if email:
                p = self.by_identity.get("email:" + email.lower())
            if p is None:
                phone = by.get("identify_by_phone")
                if phone:
                    p = self.by_identity.get("phone:" + phone)
            if p is None:
                self.warnings["unknown_identity"] += 1
        if p is None:
            p = self.profile_for_uid(uid)
        p.events += 1
        return p

    def profile(self, uid: str) -> StitchedProfile | None:
        return self.by_uid.get(uid)

    def stats(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "accepted": dict(self.accepted),
            "rejected": dict(self.rejected),
            "rejections_by_reason": dict(self.rejections_by_reason),
            "problems_by_field": dict(self.problems_by_field),
            "webhook_sources": dict(self.webhook_sources),
            "profiles": len(self.profiles),
            "profiles_forgotten": self.profiles_forgotten,
            "identified_profiles": sum(1 for p in self.profiles.values() if p.emails or p.phones),
            "merges": self.merges,
            "sessions": len(self.sessions) + self.sessions_forgotten,
            "warnings": dict(self.warnings),
            "faults": dict(self.faults),
            "digest": dict(self.digests),
            "digest_algorithm": "sum mod 2**64 of int.from_bytes(blake2b(body, digest_size=8), 'little')",
            "uptime_s": round(time.time() - self.started, 3),
        }
