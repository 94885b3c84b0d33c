"""Transport-neutral HTTP answers, so handlers never import azure.functions."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Reply", "json_reply", "problem"]


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)


def json_reply(status: int, payload: Any) -> Reply:
    return Reply(status, json.dumps(payload, ensure_ascii=False).encode("utf-8"))


def problem(status: int, title: str, detail: str, **extra: Any) -> Reply:
    """RFC 9457 problem details."""
    payload = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return Reply(status, json.dumps(payload, ensure_ascii=False).encode("utf-8"), "application/problem+json")
