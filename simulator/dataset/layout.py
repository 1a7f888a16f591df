"""A dataset's files and columns: what the writer writes and the reader reads back."""

from __future__ import annotations

from simulator.contract import ENDPOINT_NAMES  # one request file per endpoint, in this order

__all__ = [
    "BOOL_COLUMNS",
    "DEVICE_COLUMNS",
    "ENDPOINT_NAMES",
    "FORMATS",
    "FORMAT_VERSION",
    "INT_COLUMNS",
    "TABLE_COLUMNS",
    "DatasetError",
    "OptionError",
]

FORMAT_VERSION = 1
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
    #: ``value`` in US dollars, with the catalogue's rates (simulator/catalog/usd_rates.csv).
    "value_usd",
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
#: Typed columns of the Parquet tables (anything else is a string). Times are UTC instants but
#: ``local_time``, the device's wall clock (no zone: its zone is the ``timezone`` column).
UTC_COLUMNS = frozenset({"time", "install_time", "last_seen"})
WALL_CLOCK_COLUMNS = frozenset({"local_time"})
FLOAT_COLUMNS = frozenset({"value", "value_usd"})
DEVICE_INT_COLUMNS = frozenset({"device", "install_day", "sessions", "requests", "faulty_requests", "purchases"})
#: Small vocabularies, dictionary-encoded (pandas reads them as categories).
CATEGORY_COLUMNS = frozenset(
    {
        "endpoint",
        "step",
        "event_name",
        "platform",
        "country",
        "timezone",
        "currency",
        "coupon",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "campaign",
        "fault",
        "locale",
        "model",
        "os_version",
        "app_version",
        "carrier",
    }
)
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


class OptionError(DatasetError):
    """An option's value no dataset can be made with: the command line's to fix (a usage error)."""
