"""A dataset's files and columns: what the writer writes and the reader reads back."""

from __future__ import annotations

from simulator import contract

FORMAT_VERSION = 1
ENDPOINTS = contract.ENDPOINT_NAMES
#: ``--format``: how the flat events table is written (the request files are always JSONL).
FORMATS: tuple[str, ...] = ("csv", "parquet", "jsonl")
#: The events table: one row per request, in ``added_at`` order.
TABLE_COLUMNS: tuple[str, ...] = (
    "time",
    "local_time",
    "day",
    "endpoint",
    "step",
    "event_name",
    "device",
    "user_id",
    "session_id",
    "session_number",
    "platform",
    "country",
    "timezone",
    "value",
    "currency",
    "transaction_id",
    "items",
    "coupon",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "identified",
    "campaign",
    "faulty",
    "fault",
)
INT_COLUMNS = frozenset({"day", "device", "session_number", "items"})
BOOL_COLUMNS = frozenset({"identified", "faulty"})
DEVICE_COLUMNS: tuple[str, ...] = (
    "device",
    "platform",
    "country",
    "currency",
    "timezone",
    "locale",
    "model",
    "os_version",
    "app_version",
    "carrier",
    "install_time",
    "install_day",
    "last_seen",
    "sessions",
    "requests",
    "faulty_requests",
    "purchases",
    "user_agent",
)


class DatasetError(Exception):
    """A dataset cannot be generated or read; the message says what to do."""
