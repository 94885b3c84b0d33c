"""Where every trigger gets its dependencies: one provider of the container, which tests replace.

    monkeypatch.setattr(entrypoints._deps, "provider", fake_provider)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from shared.bootstrap import Container, current_container

__all__ = ["container", "provider"]

provider: Callable[[], Awaitable[Container]] = current_container


async def container() -> Container:
    return await provider()
