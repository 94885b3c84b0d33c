"""App settings from ``local.settings.json`` and host options from ``host.json``, as ``func`` reads them."""

from __future__ import annotations

import json
import os
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["HostOptions", "load_local_settings"]


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


@dataclass(frozen=True)
class HostOptions:
    """The few host.json settings the local host honours (defaults are the host's)."""

    route_prefix: str = "api"
    max_concurrent_sessions: int = 8
    max_concurrent_calls: int = 16

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
        )
