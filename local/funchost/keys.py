"""Host keys and the authorization levels as Azure enforces them on HTTP triggers."""

from __future__ import annotations

import hmac
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["EVENTGRID_EXTENSION", "FUNCTION_KEY_ENV", "MASTER_KEY_ENV", "HostKeys", "load_host_keys"]

FUNCTION_KEY_ENV = "CONNECTOR_LOCAL_FUNCTION_KEY"
MASTER_KEY_ENV = "CONNECTOR_LOCAL_MASTER_KEY"
# The system key the Event Grid extension's webhook takes (/runtime/webhooks/eventgrid), as Azure names it.
EVENTGRID_EXTENSION = "eventgrid_extension"


@dataclass(frozen=True)
class HostKeys:
    master_key: str
    function_key: str
    system_keys: Mapping[str, str] = field(default_factory=dict)

    def _is(self, presented: str, expected: str) -> bool:
        # Constant time, so a caller can't learn the key byte by byte from response timings.
        return hmac.compare_digest(presented.encode(), expected.encode())

    def is_master(self, presented: str | None) -> bool:
        return presented is not None and self._is(presented, self.master_key)

    def allows(self, auth_level: str, presented: str | None) -> bool:
        """ANONYMOUS: anyone; FUNCTION: a function key or the master key; ADMIN: the master key."""
        level = auth_level.upper()
        if level == "ANONYMOUS":
            return True
        if presented is None:
            return False
        if level == "FUNCTION" and self._is(presented, self.function_key):
            return True
        return self.is_master(presented)

    def allows_extension(self, extension: str, presented: str | None) -> bool:
        """An extension's webhook (``/runtime/webhooks/<name>``): its system key, or the master key."""
        expected = self.system_keys.get(extension)
        if presented is None:
            return False
        return (expected is not None and self._is(presented, expected)) or self.is_master(presented)


def _new_key() -> str:
    return secrets.token_urlsafe(32)


def _create_key_file(file: Path) -> None:
    # Written under a temporary name, then linked into place: link fails if the file exists,
    # so two hosts starting at once agree on one set of keys and never read a half-written file.
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump({"masterKey": _new_key(), "functionKey": _new_key(),
                   "systemKeys": {EVENTGRID_EXTENSION: _new_key()}}, out, indent=2)
    try:
        os.link(tmp, file)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()


def load_host_keys(state_dir: str | Path, environ: Mapping[str, str] | None = None) -> HostKeys:
    """Keys from the environment, else from ``<state_dir>/host-keys.json`` (created once, 0600)."""
    environ = os.environ if environ is None else environ
    file = Path(state_dir) / "host-keys.json"
    stored: dict[str, Any] = {}
    if not (environ.get(MASTER_KEY_ENV) and environ.get(FUNCTION_KEY_ENV)):
        if not file.is_file():
            _create_key_file(file)
        stored = json.loads(file.read_text(encoding="utf-8"))
    master = environ.get(MASTER_KEY_ENV) or stored["masterKey"]
    return HostKeys(
        master_key=master,
        function_key=environ.get(FUNCTION_KEY_ENV) or stored["functionKey"],
        system_keys={EVENTGRID_EXTENSION: system_key(master, EVENTGRID_EXTENSION, stored)},
    )


def system_key(master_key: str, extension: str, stored: Mapping[str, object] | None = None) -> str:
    """The extension's system key: the stored one, else one derived from the master key (keys given in the
    environment, or a key file written before system keys were kept), stable across restarts."""
    kept = (stored or {}).get("systemKeys")
    if isinstance(kept, dict) and isinstance(kept.get(extension), str):
        return str(kept[extension])
    return hmac.new(master_key.encode(), f"system key {extension}".encode(), "sha256").hexdigest()
