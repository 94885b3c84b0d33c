"""Serve an ASGI app over HTTPS with uvicorn in a background thread (the simulators, in tests and the demo)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

__all__ = ["ServingThread", "serve_https_in_thread"]

STARTUP_TIMEOUT = 30.0


@dataclass
class ServingThread:
    base_url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        # Clients often leave keep-alive connections open; don't wait for them.
        self.server.force_exit = True
        self.thread.join(timeout=10)


def serve_https_in_thread(app: Any, *, name: str, host: str, port: int, certfile: Path,
                          log_level: str = "warning") -> ServingThread:
    """Bind first, so port 0 resolves to a real port before anyone needs the URL; then serve until stopped."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    bound_port = sock.getsockname()[1]
    # Access logs stay off: simulator paths carry mailbox addresses and secret names.
    config = uvicorn.Config(app, ssl_certfile=str(certfile), log_level=log_level, access_log=False,
                            lifespan="off", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError(f"{name} did not start")
        time.sleep(0.01)
    url_host = f"[{host}]" if ":" in host else host
    logging.getLogger(name).info("%s listening on %s:%s", name, url_host, bound_port)
    return ServingThread(f"https://{url_host}:{bound_port}", server, thread)
