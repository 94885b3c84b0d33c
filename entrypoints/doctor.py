"""The doctor on the command line, built from the app settings like the Function App:

    python -m entrypoints.doctor [--json] [--mailbox someone@contoso.com] [--tenant <id>]   (exit 1 on any ✗)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

from shared.app.operator.doctor import Check, DoctorDeps, report, run_checks
from shared.app.operator.tenant_report import in_tenant
from shared.bootstrap import Container
from shared.config import Settings
from shared.errors import ConfigurationError

__all__ = ["main"]


async def _checks(mailbox: str | None, tenant: str | None = None) -> list[Check]:
    try:
        settings = Settings.from_env(os.environ)
    except ConfigurationError as exc:
        return [Check("settings", False, str(exc), f"set {exc.setting} in the Function App's app settings")]
    container = Container(settings)
    try:
        deps = await in_tenant(tenant, container.doctor())
        if not isinstance(deps, DoctorDeps):
            return [Check("tenant", False, json.loads(deps.body)["detail"],
                          "name a tenant registered under /api/manage/tenants (its directory id)")]
        return await run_checks(deps, mailbox=mailbox)
    finally:
        await container.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m entrypoints.doctor",
                                     description="Checks a deployment in order, one line each, with the fix.")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--mailbox", help="a mailbox to check access to (default: the one written most recently "
                                          "and each registered room)")
    parser.add_argument("--tenant", help="report for this tenant (its directory id): its token, rooms, dead letters")
    args = parser.parse_args(argv)
    checks = asyncio.run(_checks(args.mailbox, args.tenant))
    print(report(checks, as_json=args.json))
    return 0 if all(c.ok for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
