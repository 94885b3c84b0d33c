"""Run the vault simulator with uvicorn in a background thread (tests, demo) and stop it again."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from local.graphsim.tls import TlsFiles, create_tls
from local.serving import ServingThread, serve_https_in_thread

from .api import JwksValidator, Validator, build_app
from .state import VaultState

DEFAULT_AUTHORITY = "https://login.microsoftonline.com"


@dataclass
class RunningVault:
    vault_url: str
    ca_path: Path
    state: VaultState
    _serving: ServingThread = field(repr=False)

    def stop(self) -> None:
        self._serving.stop()

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
    serving = serve_https_in_thread(app, name="vaultsim", host=host, port=port, certfile=tls.server_pem,
                                    log_level=log_level)
    return RunningVault(serving.base_url, tls.ca_path, state, serving)
