"""Each contract suite takes a ``backend`` parameter: "fake" (tests/fakes, always run) or the real adapter
against its local stand-in (marked from the fixtures it uses, see tests/conftest.py)."""

from __future__ import annotations

import pytest

from shared.adapters.tables.stores import TableStores

# The real backends are marked here: they are reached through request.getfixturevalue, which the marking
# by fixture names in tests/conftest.py cannot see at collection.
FAKE_AND_TABLES = ["fake", pytest.param("tables", marks=pytest.mark.azurite)]


def table_stores_of(request: pytest.FixtureRequest) -> TableStores:
    """The Azurite-backed stores for the "tables" backend (a fresh table prefix per test)."""
    stores: TableStores = request.getfixturevalue("table_stores")
    return stores


def known_drift(request: pytest.FixtureRequest, backend: str, reason: str) -> None:
    """Mark this test as failing today on ``backend`` (strict: it fails once the adapter is fixed, so that this
    mark is removed with the fix)."""
    node = request.node
    params = node.callspec.params if hasattr(node, "callspec") else {}
    if backend in params.values():
        node.add_marker(pytest.mark.xfail(strict=True, reason=reason))
