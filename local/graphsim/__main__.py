"""CLI: ``python -m local.graphsim --port 8443 --state-dir .local/graphsim --tenant-id T
--client-id C --client-secret S`` (or the secret in GRAPHSIM_CLIENT_SECRET, so ``ps`` won't show it).

Prints one line ``graphsim ready <base_url> ca=<ca_path>`` once listening; runs until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path

from .server import start_simulator


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m local.graphsim",
                                description="Local HTTPS stand-in for Microsoft Graph and Entra ID.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8443, help="0 picks a free port")
    p.add_argument("--state-dir", type=Path, default=Path(".local/graphsim"))
    p.add_argument("--tenant-id", required=True)
    p.add_argument("--client-id", required=True)
    p.add_argument("--client-secret", default=None,
                   help="prefer the GRAPHSIM_CLIENT_SECRET environment variable")
    p.add_argument("--role", action="append", dest="roles",
                   help="app role in issued tokens (repeatable); default Calendars.ReadWrite, "
                        "User.Read.All")
    p.add_argument("--seed", type=Path, help='JSON file {"users": [{userPrincipalName, ...}]}')
    p.add_argument("--log-level", default="warning")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    secret = args.client_secret or os.environ.get("GRAPHSIM_CLIENT_SECRET")
    if not secret:
        print("graphsim: --client-secret or GRAPHSIM_CLIENT_SECRET is required", file=sys.stderr)
        return 2
    sim = start_simulator(host=args.host, port=args.port, state_dir=args.state_dir,
                          tenant_id=args.tenant_id, client_id=args.client_id,
                          client_secret=secret, roles=args.roles, log_level=args.log_level)
    if args.seed:
        for user in json.loads(args.seed.read_text()).get("users", []):
            sim.state.add_user(user["userPrincipalName"], display_name=user.get("displayName"),
                               mail=user.get("mail"), id=user.get("id"),
                               account_enabled=user.get("accountEnabled", True))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(f"graphsim ready {sim.base_url} ca={sim.ca_path.resolve()}", flush=True)
    while not stop.wait(0.5):
        pass
    sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
