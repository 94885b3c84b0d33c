"""Run the vault simulator with uvicorn in a background thread (tests, demo) and stop it again."""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn

from local.graphsim.tls import TlsFiles, create_tls

from .api import JwksValidator, Validator, build_app
from .state import VaultState

STARTUP_TIMEOUT = 30.0
DEFAULT_AUTHORITY = "https://login.microsoftonline.com"


@dataclass
class RunningVault:
    vault_url: str
    ca_path: Path
    state: VaultState
    _server: uvicorn.Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    def stop(self) -> None:
        self._server.should_exit = True
        self._server.force_exit = True  # don't wait for clients' keep-alive connections
        self._thread.join(timeout=10)

    def __enter__(self) -> RunningVault:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def write_ca_bundle(path: Path, *ca_paths: Path) -> Path:
    """One PEM file trusting several simulators (for SSL_CERT_FILE / REQUESTS_CA_BUNDLE)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(Path(p).read_text() for p in ca_paths))
    return path


def start_vault(
    state_dir: Path,
    port: int = 0,
    *,
    tenant_id: str,
    authority: str = DEFAULT_AUTHORITY,
    authority_ca: Path | None = None,
    validator: Validator | None = None,
    tls_dir: Path | None = None,
    host: str = "127.0.0.1",
    log_level: str = "warning",
) -> RunningVault:
    """Start a vault whose tokens come from ``authority`` (the Entra simulator's base URL, trusted with
    ``authority_ca``) for ``tenant_id``; ``validator`` replaces the JWKS check if given.

    ``tls_dir``: serve with the ``ca.pem``/``server.pem`` already there (the Entra simulator's state
    dir) so that one CA trusts both simulators; by default the vault makes its own CA in ``state_dir``.
    """
    state_dir = Path(state_dir)
    if tls_dir is not None:
        tls = TlsFiles(Path(tls_dir) / "ca.pem", Path(tls_dir) / "server.pem")
        if not (tls.ca_path.is_file() and tls.server_pem.is_file()):
            raise FileNotFoundError(f"no ca.pem/server.pem in {tls_dir}")
    else:
        tls = create_tls(state_dir)
    state = VaultState()
    check = validator or JwksValidator(authority, tenant_id, str(authority_ca) if authority_ca else None)
    app = build_app(state, check, authority=authority, tenant_id=tenant_id)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(app, ssl_certfile=str(tls.server_pem), log_level=log_level,
                            # Paths carry secret names, not values; quiet anyway, like graphsim.
                            access_log=False, lifespan="off", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="vaultsim", daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("vaultsim did not start")
        time.sleep(0.01)
    url_host = f"[{host}]" if ":" in host else host
    logging.getLogger("vaultsim").info("vaultsim listening on %s:%s", url_host, bound_port)
    return RunningVault(f"https://{url_host}:{bound_port}", tls.ca_path, state, server, thread)
