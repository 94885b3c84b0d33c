"""The credential features composed over the fakes of tests/fakes/credentials.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.adapters.identity.graph_credential import GraphCredentialProvider
from shared.app.credentials.runtime import CredentialRuntime
from shared.config import CredentialSettings, Settings
from tests.fakes.credentials import NOW, Clock, FakeEntra, FakeFactory, FakeLease, FakeProbe, FakeState, FakeVault

__all__ = ["NOW", "CredentialWorld"]


@dataclass
class CredentialWorld:
    clock: Clock = field(default_factory=Clock)
    vault: FakeVault = field(default_factory=FakeVault)
    lease: FakeLease = field(default_factory=FakeLease)
    state: FakeState = field(default_factory=FakeState)
    entra: FakeEntra = field(init=False)
    factory: FakeFactory = field(init=False)

    def __post_init__(self) -> None:
        self.entra = FakeEntra(self.clock)
        self.factory = FakeFactory(self.entra)

    def settings(self, kind: str = "secret", *, vault: bool = True, **credential: Any) -> Settings:
        return Settings(synchronize=True, tenant_id="t", client_id="c", client_secret=None if vault else "static",
                        credential=CredentialSettings(kind=kind, key_vault_url="https://kv.vault.azure.net/"
                                                      if vault else None, **credential))

    def runtime(self, kind: str = "secret", *, vault: bool = True, **credential: Any) -> CredentialRuntime:
        settings = self.settings(kind, vault=vault, **credential)
        secrets = self.vault if vault else None
        provider = GraphCredentialProvider(settings, self.factory, secrets=secrets, clock=self.clock)

        async def no_sleep(seconds: float) -> None:
            self.clock.advance(seconds=seconds)

        return CredentialRuntime(settings=settings, provider=provider, secrets=secrets,
                                 applications=self.entra, probe=FakeProbe(self.factory),
                                 lease=self.lease, state=self.state, clock=self.clock, sleep=no_sleep)
