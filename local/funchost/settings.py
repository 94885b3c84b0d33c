"""App settings from ``local.settings.json`` and host options from ``host.json``, as ``func`` reads them."""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["HostOptions", "load_local_settings", "parse_timespan"]

_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d+):(\d+):(\d+(?:\.\d+)?)$")


def load_local_settings(path: str | Path, environ: MutableMapping[str, str] | None = None) -> list[str]:
    """Copy ``Values`` into the environment without overriding what is already set.

    ``func start`` does the same, so a variable exported in the shell (or by a test) wins over
    the file. Returns the names that were applied. A missing file is not an error.
    """
    environ = os.environ if environ is None else environ
    file = Path(path)
    if not file.is_file():
        return []
    values = json.loads(file.read_text(encoding="utf-8")).get("Values") or {}
    applied = []
    for name, value in values.items():
        if name not in environ and value is not None:
            environ[name] = str(value)
            applied.append(name)
    return applied


def parse_timespan(value: object) -> float | None:
    """Seconds of a host.json TimeSpan ("hh:mm:ss[.fff]" or "d.hh:mm:ss"); None for "-1" (no limit)."""
    text = str(value).strip()
    if text == "-1":
        return None
    match = _TIMESPAN.match(text)
    if match is None:
        raise ValueError(f"not a TimeSpan: {value!r}")
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)


@dataclass(frozen=True)
class HostOptions:
    """The few host.json settings the local host honours (defaults are the host's on Flex Consumption)."""

    route_prefix: str = "api"
    max_concurrent_sessions: int = 8
    max_concurrent_calls: int = 16
    function_timeout_seconds: float | None = 30 * 60
    max_lock_renewal_seconds: float = 5 * 60
    # How long a session receiver waits for its session's next message before it takes another session; unset,
    # the client's tryTimeout (ServiceBusSessionProcessorOptions.SessionIdleTimeout).
    session_idle_seconds: float = 60

    @classmethod
    def from_host_json(cls, path: str | Path) -> HostOptions:
        file = Path(path)
        if not file.is_file():
            return cls()
        data: dict[str, Any] = json.loads(file.read_text(encoding="utf-8"))
        extensions = data.get("extensions") or {}
        http = extensions.get("http") or {}
        bus = extensions.get("serviceBus") or {}
        return cls(
            route_prefix=str(http.get("routePrefix", cls.route_prefix)).strip("/"),
            max_concurrent_sessions=int(bus.get("maxConcurrentSessions", 8)),
            max_concurrent_calls=int(bus.get("maxConcurrentCalls", 16)),
            function_timeout_seconds=parse_timespan(data["functionTimeout"]) if "functionTimeout" in data
            else cls.function_timeout_seconds,
            max_lock_renewal_seconds=parse_timespan(bus.get("maxAutoLockRenewalDuration", "00:05:00")) or math.inf,
            session_idle_seconds=parse_timespan(bus.get("sessionIdleTimeout")
                                                or (bus.get("clientRetryOptions") or {}).get("tryTimeout")
                                                or "00:01:00") or math.inf,
        )
