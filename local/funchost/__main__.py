"""``python -m local.funchost``: a local Functions host for machines without Core Tools."""

from __future__ import annotations

import argparse
import logging
import sys

from .console_log import BufferedConsoleHandler
from .host import LocalFunctionHost
from .indexing import IndexingError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.funchost", description=__doc__)
    parser.add_argument("--app", default="function_app", help="module holding the FunctionApp `app`")
    parser.add_argument("--port", type=int, default=7071, help="0 picks a free port")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--settings", default="local.settings.json", help="its Values become env vars")
    parser.add_argument("--host-json", default="host.json")
    parser.add_argument("--state-dir", default=".local", help="host keys and the default queue file")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    console = BufferedConsoleHandler(sys.stderr.fileno())
    console.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=args.log_level.upper(), handlers=[console])
    host = LocalFunctionHost(
        args.app,
        port=args.port,
        host=args.host,
        settings_file=args.settings,
        host_json=args.host_json,
        state_dir=args.state_dir,
    )
    try:
        host.run()
    except IndexingError as exc:
        console.flush()  # the log before the error
        print(f"funchost: error: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        console.close()  # writes what is still buffered
    return 0


if __name__ == "__main__":
    sys.exit(main())
