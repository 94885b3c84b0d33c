"""The one lazy-construction idiom: every adapter the composition root builds is a ``Lazy``.

Nothing is built, and no SDK imported, until a use case's dependencies are asked for; then each adapter is
built once and shared. Adapters connect on first use, so building one touches no network.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["Lazy"]

T = TypeVar("T")


class Lazy(Generic[T]):
    """A value built by ``build`` on the first call and returned by every later one.

    ``opened`` hears of each value once built, so the owner closes them in reverse order. ``owned=False``:
    the value is closed by someone else (a store of a shared table client, a test's fake).
    """

    def __init__(self, build: Callable[[], T], *, owned: bool = True,
                 opened: Callable[[Lazy[object]], None] | None = None) -> None:
        self._build = build
        self._owned = owned
        self._opened = opened
        self._built = False
        self._value: T | None = None

    @classmethod
    def given(cls, value: T) -> Lazy[T]:
        """A value built elsewhere (a test's fake): returned as is, never closed here."""
        lazy = cls(lambda: value, owned=False)
        lazy._built, lazy._value = True, value
        return lazy

    @property
    def built(self) -> bool:
        return self._built

    def __call__(self) -> T:
        if not self._built:
            self._value = self._build()
            self._built = True
            if self._opened is not None:
                self._opened(self)  # type: ignore[arg-type]
        return self._value  # type: ignore[return-value]

    async def close(self) -> None:
        """Close the value if this built and owns it; the next call builds a fresh one."""
        if not (self._built and self._owned):
            return
        value, self._value, self._built = self._value, None, False
        close = getattr(value, "close", None)
        if close is not None:
            await close()
