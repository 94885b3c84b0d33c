"""A throwaway CA per run (trustme) and a server certificate for localhost and 127.0.0.1.

Only the CA certificate is meant for clients (``ca.pem``). The server key is written next to it
because uvicorn loads certificates from files; it is a test key for loopback and dies with the run.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class TlsFiles:
    ca_path: Path
    server_pem: Path  # private key + certificate chain


def create_tls(state_dir: Path) -> TlsFiles:
    state_dir.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="graphsim local CA")
    cert = ca.issue_cert("localhost", "127.0.0.1", "::1")
    ca_path = state_dir / "ca.pem"
    server_pem = state_dir / "server.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    # Create the key file private from the start rather than chmod-ing it afterwards.
    fd = os.open(server_pem, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(cert.private_key_and_cert_chain_pem.bytes())
    return TlsFiles(ca_path, server_pem)


def client_ssl_context(ca_path: Path | str) -> ssl.SSLContext:
    """An SSL context that trusts the simulator's CA (for httpx/aiohttp clients)."""
    return ssl.create_default_context(cafile=str(ca_path))
