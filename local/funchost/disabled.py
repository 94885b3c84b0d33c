"""Disabled functions: the app setting ``AzureWebJobs.<name>.Disabled``, as the Functions host reads it."""

from __future__ import annotations

import os
from collections.abc import Mapping

__all__ = ["is_disabled"]


def is_disabled(name: str, environ: Mapping[str, str] | None = None) -> bool:
    """``AzureWebJobs.<name>.Disabled`` is true (or 1): the host does not listen to the function's trigger, and its
    HTTP route answers 404 to any key but the master key (which still runs it), as on Azure."""
    value = (os.environ if environ is None else environ).get(f"AzureWebJobs.{name}.Disabled", "")
    return value.strip().lower() in ("true", "1")
