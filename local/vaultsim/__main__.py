"""CLI: ``python -m local.vaultsim --port 8444 --state-dir .local/vaultsim --tenant-id T
--authority https://127.0.0.1:8443 --authority-ca .local/graphsim/ca.pem``.

Prints one line ``vaultsim ready <vault_url> ca=<ca_path>`` once listening; runs until SIGINT/SIGTERM.
Seed secrets come from a JSON file ``{"secrets": {"name": "value" | {"value", "contentType", "tags"}}}``.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

from .server import DEFAULT_AUTHORITY, start_vault


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m local.vaultsim",
                                description="Local HTTPS stand-in for Azure Key Vault secrets.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8444, help="0 picks a free port")
    p.add_argument("--state-dir", type=Path, default=Path(".local/vaultsim"))
    p.add_argument("--tenant-id", required=True)
    p.add_argument("--authority", default=DEFAULT_AUTHORITY, help="the Entra simulator's base URL")
    p.add_argument("--authority-ca", type=Path, help="CA file that trusts the authority")
    p.add_argument("--tls-dir", type=Path, help="serve with ca.pem/server.pem from here (e.g. graphsim's state dir)")
    p.add_argument("--seed", type=Path, help='JSON file {"secrets": {name: value | {value, contentType, tags}}}')
    p.add_argument("--log-level", default="warning")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    vault = start_vault(args.state_dir, args.port, tenant_id=args.tenant_id, authority=args.authority,
                        authority_ca=args.authority_ca, tls_dir=args.tls_dir, host=args.host,
                        log_level=args.log_level)
    if args.seed:
        for name, spec in json.loads(args.seed.read_text()).get("secrets", {}).items():
            spec = spec if isinstance(spec, dict) else {"value": spec}
            vault.state.set_secret(name, str(spec["value"]), content_type=spec.get("contentType"),
                                   tags=spec.get("tags"))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(f"vaultsim ready {vault.vault_url} ca={vault.ca_path.resolve()}", flush=True)
    while not stop.wait(0.5):
        pass
    vault.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
