"""Hypothesis profiles, the shared servers (tests/servers.py) and the markers that say which servers a test
needs. A test is marked by the fixtures it uses, so nobody has to remember:

- ``azurite``: Table Storage in Azurite (``azurite``, ``table_stores``)
- ``graphsim``: the HTTPS Graph/Entra simulator (``simulator``, ``sim``, ``cloud_servers``)
- ``vaultsim``: the HTTPS Key Vault simulator (``vault``, ``cloud_servers``)
- ``amqp``: the loopback AMQP peer behind the Service Bus adapter (``peer``)
- ``e2e``: the whole local stack (``stack``)

The fast selection (``scripts/test-fast``) leaves these out; ``scripts/test`` runs everything.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

from tests.servers import azurite, simulator, table_prefix, table_stores

__all__ = ["azurite", "simulator", "table_prefix", "table_stores"]

settings.register_profile("dev", max_examples=150, deadline=None)
settings.register_profile("ci", max_examples=400, deadline=None, derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

SERVER_MARKERS: dict[str, tuple[str, ...]] = {
    "azurite": ("azurite",),
    "simulator": ("graphsim",),
    "sim": ("graphsim",),
    "vault": ("vaultsim",),
    "cloud_servers": ("graphsim", "vaultsim"),
    "peer": ("amqp",),
    "stack": ("e2e",),
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        wanted = {marker for name in getattr(item, "fixturenames", ()) for marker in SERVER_MARKERS.get(name, ())}
        for marker in sorted(wanted - {m.name for m in item.iter_markers()}):
            item.add_marker(marker)
