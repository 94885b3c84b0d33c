"""Time, passed in: every use case reads the clock through this, so tests set it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

__all__ = ["Clock"]

Clock = Callable[[], datetime]
"""Returns the current time, UTC and aware."""
