"""Index a v2-model FunctionApp the way the Python worker does, with the host's start-up checks."""

from __future__ import annotations

import importlib
import json
import os
import re
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from croniter import croniter

__all__ = [
    "BUILT_IN_ROUTE_CONFLICT",
    "EventGridFunction",
    "HttpFunction",
    "IndexedFunction",
    "IndexingError",
    "QueueFunction",
    "RouteTemplate",
    "TimerFunction",
    "index_app",
    "resolve_setting",
]

BUILT_IN_ROUTE_CONFLICT = "The specified route conflicts with one or more built in routes."
_SETTING_REF = re.compile(r"%([^%]+)%")
_PARAM = re.compile(r"\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(?::([^}?]+))?(\?)?\}")
_CONSTRAINTS = {
    "int": r"-?\d+",
    "long": r"-?\d+",
    "alpha": r"[A-Za-z]+",
    "bool": r"(?:true|false)",
    "guid": r"[0-9A-Fa-f]{8}-?(?:[0-9A-Fa-f]{4}-?){3}[0-9A-Fa-f]{12}",
}


class IndexingError(Exception):
    """The app cannot be hosted; the message names the function and the reason."""


def resolve_setting(value: str, env: Mapping[str, str], *, function: str) -> str:
    """Replace ``%NAME%`` with the app setting, failing (like the host) when it is missing."""

    def lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise IndexingError(f"Function '{function}': app setting '{name}' (referenced as %{name}%) is not set.")
        return env[name]

    return _SETTING_REF.sub(lookup, value)


@dataclass(frozen=True)
class RouteTemplate:
    """An ASP.NET-style route template: ``{p}``, ``{p?}``, ``{p:int}``, ``{*rest}``."""

    template: str
    pattern: re.Pattern[str]
    specificity: tuple[int, int]

    @classmethod
    def compile(cls, template: str) -> RouteTemplate:
        regex, literals, params = "", 0, 0
        for segment in filter(None, template.strip("/").split("/")):
            whole = _PARAM.fullmatch(segment)
            if whole and (whole.group(1) or whole.group(4)):
                # Optional and catch-all parameters may be absent, slash included.
                inner = ".*" if whole.group(1) else _CONSTRAINTS.get(whole.group(3) or "", "[^/]+")
                regex += f"(?:/(?P<{whole.group(2)}>{inner}))?"
                params += 1
                continue
            pos, part = 0, ""
            for m in _PARAM.finditer(segment):
                part += re.escape(segment[pos : m.start()])
                part += f"(?P<{m.group(2)}>{_CONSTRAINTS.get(m.group(3) or '', '[^/]+')})"
                pos, params = m.end(), params + 1
            part += re.escape(segment[pos:])
            literals += 0 if _PARAM.search(segment) else 1
            regex += "/" + part
        # Routing is case-insensitive in ASP.NET, and a trailing slash is tolerated.
        # Any character may stand in a segment, line breaks included; \Z: no newline before the end.
        return cls(template, re.compile(rf"^{regex}/?\Z", re.IGNORECASE | re.DOTALL), (literals, -params))

    def match(self, path: str) -> dict[str, str] | None:
        m = self.pattern.match(path)
        if m is None:
            return None
        return {k: v for k, v in m.groupdict().items() if v is not None}


@dataclass(frozen=True)
class IndexedFunction:
    name: str
    func: Callable[..., Any]
    arg_name: str
    trigger: dict[str, Any]
    bindings: list[dict[str, Any]] = field(default_factory=list)

    @property
    def trigger_type(self) -> str:
        return str(self.trigger["type"])

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "trigger": self.trigger_type, "config": {"bindings": self.bindings}}


@dataclass(frozen=True)
class HttpFunction(IndexedFunction):
    route: RouteTemplate = RouteTemplate.compile("")
    methods: frozenset[str] | None = None
    auth_level: str = "FUNCTION"

    def describe(self) -> dict[str, Any]:
        methods = sorted(self.methods) if self.methods else None
        extra = {"route": self.route.template, "methods": methods, "authLevel": self.auth_level}
        return super().describe() | extra


@dataclass(frozen=True)
class QueueFunction(IndexedFunction):
    queue_name: str = ""
    sessions: bool = False

    def describe(self) -> dict[str, Any]:
        extra = {"queueName": self.queue_name, "isSessionsEnabled": self.sessions}
        return super().describe() | extra


@dataclass(frozen=True)
class TimerFunction(IndexedFunction):
    schedule: str = ""
    run_on_startup: bool = False

    def describe(self) -> dict[str, Any]:
        extra = {"schedule": self.schedule, "runOnStartup": self.run_on_startup}
        return super().describe() | extra


@dataclass(frozen=True)
class EventGridFunction(IndexedFunction):
    """Invoked through the Event Grid extension's webhook, ``POST /runtime/webhooks/eventgrid?functionName=<name>``,
    once per event (the Python worker's cardinality)."""


def _is_reserved(value: str) -> bool:
    return value.lstrip("/").lower().startswith("admin")


def _build(
    name: str, func: Callable[..., Any], bindings: list[dict[str, Any]], env: Mapping[str, str]
) -> IndexedFunction:
    triggers = [b for b in bindings if str(b.get("type", "")).endswith("Trigger")]
    others = [b for b in bindings if b not in triggers]
    if len(triggers) != 1:
        raise IndexingError(f"Function '{name}': expected exactly one trigger binding.")
    trigger = dict(triggers[0])
    kind, arg = trigger["type"], trigger["name"]
    unsupported = [b["type"] for b in others if not (b["type"] == "http" and b["name"] == "$return")]
    if unsupported:
        raise IndexingError(f"Function '{name}': the local host does not support {unsupported}.")
    common = {"name": name, "func": func, "arg_name": arg, "trigger": trigger, "bindings": bindings}
    if kind == "httpTrigger":
        route = trigger.get("route") or name
        if _is_reserved(route):
            raise IndexingError(f"Function '{name}' (route '{route}'): {BUILT_IN_ROUTE_CONFLICT}")
        methods = trigger.get("methods")
        return HttpFunction(
            **common,
            route=RouteTemplate.compile(route),
            methods=frozenset(m.upper() for m in methods) if methods else None,
            auth_level=str(trigger.get("authLevel", "FUNCTION")).upper(),
        )
    if kind == "serviceBusTrigger":
        if "queueName" not in trigger:
            raise IndexingError(f"Function '{name}': only Service Bus queue triggers are supported.")
        return QueueFunction(
            **common,
            queue_name=resolve_setting(trigger["queueName"], env, function=name),
            sessions=bool(trigger.get("isSessionsEnabled", False)),
        )
    if kind == "timerTrigger":
        schedule = resolve_setting(trigger["schedule"], env, function=name)
        if len(schedule.split()) != 6 or not croniter.is_valid(schedule, second_at_beginning=True):
            raise IndexingError(f"Function '{name}': '{schedule}' is not a 6-field NCRONTAB expression.")
        return TimerFunction(**common, schedule=schedule, run_on_startup=bool(trigger.get("runOnStartup")))
    if kind == "eventGridTrigger":
        return EventGridFunction(**common)
    raise IndexingError(f"Function '{name}': trigger type '{kind}' is not supported locally.")


_FUNCTIONS_OF: weakref.WeakKeyDictionary[Any, list[Any]] = weakref.WeakKeyDictionary()


def index_app(module_name: str, env: Mapping[str, str] | None = None) -> list[IndexedFunction]:
    """Import ``module_name`` and index its ``app`` (a ``FunctionApp``), or raise IndexingError."""
    env = os.environ if env is None else env
    module = importlib.import_module(module_name)
    app = getattr(module, "app", None)
    if app is None or not hasattr(app, "get_functions"):
        raise IndexingError(f"Module '{module_name}' has no FunctionApp named 'app'.")
    # get_functions() may run once per app (it records names and refuses them the second time,
    # which the worker never hits); an in-process host started twice reuses the first result.
    if app not in _FUNCTIONS_OF:
        _FUNCTIONS_OF[app] = app.get_functions()
    indexed: list[IndexedFunction] = []
    seen: set[str] = set()
    for fn in _FUNCTIONS_OF[app]:
        name = fn.get_function_name()
        if _is_reserved(name):
            raise IndexingError(f"Function '{name}': {BUILT_IN_ROUTE_CONFLICT}")
        if name.lower() in seen:
            raise IndexingError(f"Function '{name}' is defined more than once.")
        seen.add(name.lower())
        bindings = [json.loads(raw) for raw in fn.get_raw_bindings()]
        indexed.append(_build(name, fn.get_user_function(), bindings, env))
    return indexed
