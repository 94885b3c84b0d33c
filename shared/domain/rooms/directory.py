"""Users directory: Graph users delta items → ``user.created`` / ``user.deactivated``. Pure.

The first round only records who exists (a baseline, like a room's activation): publishing every
existing account as "created" would flood the booking system on day one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["USER_FIELDS", "UserChange", "decide_user"]

USER_FIELDS = ("id", "userPrincipalName", "mail", "displayName", "accountEnabled")


@dataclass(frozen=True)
class UserChange:
    type: str | None  # "user.created" | "user.deactivated" | None
    enabled: bool | None  # the state to store; None: forget the user
    data: dict[str, Any]


def decide_user(item: dict[str, Any], known: dict[str, Any] | None, *, baseline: bool) -> UserChange:
    """``known`` is the stored row ({"enabled": bool, ...user data}) or None."""
    user_id = str(item.get("id"))
    previous = {k: v for k, v in (known or {}).items() if k in USER_FIELDS}
    data = {**previous, **{k: item[k] for k in USER_FIELDS if k in item}, "id": user_id}
    if "@removed" in item:
        data["accountEnabled"] = False
        if known is not None and known.get("enabled") and not baseline:
            return UserChange("user.deactivated", None, data)
        return UserChange(None, None, data)
    enabled = bool(data.get("accountEnabled", True))
    data["accountEnabled"] = enabled
    if baseline:
        return UserChange(None, enabled, data)
    was_enabled = None if known is None else bool(known.get("enabled"))
    if enabled and not was_enabled:
        return UserChange("user.created", True, data)
    if not enabled and was_enabled:
        return UserChange("user.deactivated", False, data)
    return UserChange(None, enabled, data)
