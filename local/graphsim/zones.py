"""Time zones as Graph understands them in ``dateTimeTimeZone``.

Graph accepts Windows zone names and IANA names; it stores the instant and renders it in whatever
zone the caller asks for. We map Windows names through tzlocal's CLDR table rather than keeping our
own list, so the accepted set tracks what Windows clients actually send.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tzlocal.windows_tz import win_tz

from .errors import GraphError

# Names Graph treats as UTC that are not in the CLDR Windows table or zoneinfo under that spelling.
_UTC_ALIASES = {"utc", "etc/utc", "z", "gmt", "coordinated universal time", "tzone://microsoft/utc"}
_WIN_LOWER = {name.lower(): iana for name, iana in win_tz.items()}


@lru_cache(maxsize=512)
def _lookup(name: str) -> tzinfo | None:
    key = name.strip()
    if key.lower() in _UTC_ALIASES:
        return UTC
    iana = _WIN_LOWER.get(key.lower())
    if iana is not None:
        return ZoneInfo(iana)
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def resolve_zone(name: str | None) -> tzinfo:
    if not name:
        return UTC
    tz = _lookup(name)
    if tz is None:
        # Wording and code as Exchange Online answers for an unknown zone.
        raise GraphError(
            400,
            "TimeZoneNotSupportedException",
            "A valid TimeZone value must be specified. The following TimeZone value is not "
            f"supported: '{name}'.",
        )
    return tz


def parse_local(value: str) -> datetime:
    """Parse Graph's dateTime string (``2025-03-30T10:00:00[.fffffff]``, offset tolerated)."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # Graph uses 7 fractional digits; Python 3.11 accepts at most 6.
    if "." in text:
        head, _, frac = text.partition(".")
        digits = "".join(ch for ch in frac if ch.isdigit())
        rest = frac[len(digits):]
        text = f"{head}.{(digits + '000000')[:6]}{rest}"
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise GraphError(
            400, "ErrorInvalidRequest", f"Cannot convert the literal '{value}' to a DateTime."
        ) from exc


def to_instant(date_time: str, zone_name: str | None) -> datetime:
    """The UTC instant a ``dateTimeTimeZone`` denotes."""
    tz = resolve_zone(zone_name)
    local = parse_local(date_time)
    if local.tzinfo is None:
        local = local.replace(tzinfo=tz)
    return local.astimezone(UTC)


def parse_instant(value: str) -> datetime:
    """An ISO 8601 timestamp from a query; no offset means UTC, as Graph reads it."""
    dt = parse_local(value)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def render(instant: datetime, zone_name: str | None) -> dict[str, str]:
    """Render an instant as Graph does: local wall time, 7 fractional digits, zone name echoed."""
    name = zone_name or "UTC"
    local = instant.astimezone(resolve_zone(name))
    text = local.strftime("%Y-%m-%dT%H:%M:%S") + f".{local.microsecond:06d}0"
    return {"dateTime": text, "timeZone": name}


def parse_prefer_timezone(prefer_headers: list[str]) -> str | None:
    """Extract ``outlook.timezone="X"`` from Prefer headers (may be comma separated)."""
    for header in prefer_headers:
        for part in header.split(","):
            key, _, value = part.strip().partition("=")
            if key.strip().lower() == "outlook.timezone":
                return value.strip().strip('"')
    return None


def parse_prefer_int(prefer_headers: list[str], name: str) -> int | None:
    for header in prefer_headers:
        for part in header.split(","):
            key, _, value = part.strip().partition("=")
            if key.strip().lower() == name:
                try:
                    return int(value.strip().strip('"'))
                except ValueError:
                    return None
    return None
