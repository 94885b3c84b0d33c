"""Run the simulator with uvicorn in a background thread (tests, demo) and stop it again."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from local.serving import ServingThread, serve_https_in_thread

from .app import build_app
from .state import SimState
from .tls import create_tls


@dataclass
class RunningSimulator:
    base_url: str
    ca_path: Path
    state: SimState
    _serving: ServingThread = field(repr=False)

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
        self._serving.stop()
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
    serving = serve_https_in_thread(build_app(state), name="graphsim", host=host, port=port,
                                    certfile=tls.server_pem, log_level=log_level)
    return RunningSimulator(serving.base_url, tls.ca_path, state, serving)
