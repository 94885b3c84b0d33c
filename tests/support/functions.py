"""The Function App's functions as the Functions worker indexes them, once per test process (the SDK
refuses a second ``get_functions()`` in one process, as the worker calls it once)."""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def app_functions() -> list[Any]:
    import function_app

    return list(function_app.app.get_functions())
