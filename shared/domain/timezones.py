"""Time-zone names: Graph takes every Windows name but only some IANA names, so we send Windows names.

The mapping is CLDR's windowsZones table, as packaged by tzlocal.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tzlocal.windows_tz import tz_win, win_tz

__all__ = ["TimeZone", "resolve_time_zone"]


class TimeZone:
    """A zone known both by its IANA name (for arithmetic) and its Windows name (for Graph)."""

    __slots__ = ("iana", "windows", "zone")

    def __init__(self, iana: str, windows: str) -> None:
        self.iana = iana
        self.windows = windows
        self.zone = ZoneInfo(iana)

    def __repr__(self) -> str:
        return f"TimeZone({self.iana!r}, {self.windows!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TimeZone) and other.iana == self.iana

    def __hash__(self) -> int:
        return hash(self.iana)


def resolve_time_zone(name: str) -> TimeZone:
    """Accept an IANA or a Windows zone name; raise ``ValueError`` for anything else."""
    name = name.strip()
    if name in win_tz:
        return TimeZone(win_tz[name], name)
    windows = tz_win.get(name)
    if windows is None:
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as Europe/Berlin)")
    try:
        return TimeZone(name, windows)
    except ZoneInfoNotFoundError as exc:  # listed by CLDR but missing from this tz database
        raise ValueError(f"time zone {name!r} is not in this machine's tz database") from exc
