"""Times as the partnership reads them.

The database keeps every time the system records (imports, sign-ins, audit entries, forms sent) as UTC
without a zone. Shown as UTC, they are an hour out for half the year in the UK; so every page and file
shows them in the partnership's time zone ($HOTH_GEO_TIME_ZONE, an IANA name such as Europe/London,
the default), named beside them. Times written on a sharing form (when something was seen) are the
reporter's own and are never converted.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from hoth_geo import settings

__all__ = ["DEFAULT_TIME_ZONE", "time_zone", "zone_label", "local_now", "to_local", "format_local"]

DEFAULT_TIME_ZONE = "Europe/London"
_LABELS = {"Europe/London": "UK time"}


def time_zone() -> ZoneInfo:
    """The partnership's time zone; ValueError naming the setting for a name that is not a time zone."""
    name = (settings.env("HOTH_GEO_TIME_ZONE") or "").strip() or DEFAULT_TIME_ZONE
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"HOTH_GEO_TIME_ZONE must be a time zone name such as Europe/London, got {name!r}"
        ) from None


def zone_label() -> str:
    """How the times shown are named: 'UK time', or the zone's name."""
    key = time_zone().key
    return _LABELS.get(key, key)


def local_now() -> datetime:
    """Now on the partnership's clock, without a zone (for a time printed on a file)."""
    return datetime.now(UTC).astimezone(time_zone()).replace(tzinfo=None)


def to_local(values: pd.Series) -> pd.Series:
    """Recorded times (naive UTC, or aware) on the partnership's clock, without a zone; missing stay NaT."""
    t = pd.to_datetime(values)
    if t.dt.tz is None:
        t = t.dt.tz_localize("UTC")
    return t.dt.tz_convert(time_zone()).dt.tz_localize(None)


def format_local(value, fmt: str = "%d %b %Y %H:%M") -> str:
    """One recorded time (naive UTC, or aware) as text on the partnership's clock; '' when missing."""
    if value is None or pd.isna(value):
        return ""
    return to_local(pd.Series([value])).iloc[0].strftime(fmt)
