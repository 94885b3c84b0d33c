"""Run the simulator with uvicorn in a background thread (tests, demo) and stop it again."""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn

from .app import build_app
from .state import SimState
from .tls import create_tls

STARTUP_TIMEOUT = 30.0


@dataclass
class RunningSimulator:
    base_url: str
    ca_path: Path
    state: SimState
    _server: uvicorn.Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    @property
    def graph_endpoint(self) -> str:
        return self.base_url + "/v1.0"

    @property
    def auth_endpoint(self) -> str:
        # azure-identity takes the authority host and appends /{tenant}/oauth2/v2.0/token itself.
        return self.base_url

    @property
    def identity_endpoint(self) -> str:
        # App Service's IDENTITY_ENDPOINT; its IDENTITY_HEADER is state.creds.identity_header.
        return self.base_url + "/msi/token"

    def stop(self) -> None:
        self._server.should_exit = True
        # Clients in tests often leave keep-alive connections open; don't wait for them.
        self._server.force_exit = True
        self._thread.join(timeout=10)
        self.state.close()  # the notification thread

    def __enter__(self) -> RunningSimulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_simulator(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    state_dir: Path,
    tenant_id: str,
    client_id: str,
    client_secret: str,
    roles: list[str] | None = None,
    log_level: str = "warning",
) -> RunningSimulator:
    state_dir = Path(state_dir)
    tls = create_tls(state_dir)
    state = SimState()
    state.add_app(client_id, client_secret, tenant_id, roles)
    # Bind ourselves so port 0 resolves to a real port before anyone needs the URL.
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(
        build_app(state), ssl_certfile=str(tls.server_pem), log_level=log_level,
        # Access logs would show paths only, but Graph paths carry mailbox addresses; keep quiet.
        access_log=False, lifespan="off", timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                              name="graphsim", daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("graphsim did not start")
        time.sleep(0.01)
    url_host = f"[{host}]" if ":" in host else host
    logging.getLogger("graphsim").info("graphsim listening on %s:%s", url_host, bound_port)
    return RunningSimulator(f"https://{url_host}:{bound_port}", tls.ca_path, state, server, thread)
