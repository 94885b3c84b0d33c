"""A small, real parser for the OData ``$filter``/``$expand`` forms the connector uses.

Graph rejects what it cannot evaluate, so this does too: only the shapes listed below parse, the
rest raise :class:`FilterError` (answered as 400 ``BadRequest`` "Invalid filter clause").

Supported::

    singleValueExtendedProperties/Any(ep: ep/id eq '<id>' and ep/value eq '<v>')
    singleValueExtendedProperties/Any(ep: ep/id eq '<id>' and ep/value ne null)   (the property is set)
    start/dateTime ge '2025-01-01T00:00:00Z'        (also end/dateTime; eq ne gt ge lt le)
    mail eq 'x'  /  userPrincipalName eq 'x'
    clause and clause ...   (parentheses allowed)
    singleValueExtendedProperties($filter=id eq '<id>')     ($expand)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from .errors import GraphError
from .zones import parse_instant


class FilterError(ValueError):
    pass


@dataclass(frozen=True)
class Compare:
    path: str  # as written, e.g. "start/dateTime"
    op: str  # lower-case OData operator
    value: str


@dataclass(frozen=True)
class AnyExtProp:
    prop_id: str
    value: str | None


Clause = Compare | AnyExtProp
_NULL = "\x00null"  # the OData null literal, only in ``ep/value ne null``

_OPS = {"eq", "ne", "gt", "ge", "lt", "le"}
_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<punct>[():,])|(?P<word>[A-Za-z_$@][\w./$@-]*))"
)


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise FilterError(f"unexpected input at {pos}")
        pos = m.end()
        if m.group("str") is not None:
            # OData escapes a quote inside a literal by doubling it.
            tokens.append(("str", m.group("str")[1:-1].replace("''", "'")))
        elif m.group("punct") is not None:
            tokens.append(("punct", m.group("punct")))
        else:
            tokens.append(("word", m.group("word")))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, kind: str, value: str | None = None) -> str:
        tok = self.peek()
        if tok is None or tok[0] != kind or (value is not None and tok[1].lower() != value):
            raise FilterError(f"expected {value or kind}")
        self.pos += 1
        return tok[1]

    def at(self, kind: str, value: str | None = None) -> bool:
        tok = self.peek()
        return tok is not None and tok[0] == kind and (value is None or tok[1].lower() == value)

    def conjunction(self, lambda_var: str | None = None) -> list[Clause]:
        clauses = self.clause(lambda_var)
        while self.at("word", "and"):
            self.take("word")
            clauses += self.clause(lambda_var)
        return clauses

    def clause(self, lambda_var: str | None) -> list[Clause]:
        if self.at("punct", "("):
            self.take("punct")
            inner = self.conjunction(lambda_var)
            self.take("punct", ")")
            return inner
        path = self.take("word")
        if path.lower() == "singlevalueextendedproperties/any" and lambda_var is None:
            return [self.any_ext_prop()]
        op = self.take("word").lower()
        if op not in _OPS:
            raise FilterError(f"unsupported operator {op}")
        if lambda_var is not None and op == "ne" and self.at("word", "null"):
            self.take("word")
            return [Compare(path, op, _NULL)]
        return [Compare(path, op, self.take("str"))]

    def any_ext_prop(self) -> AnyExtProp:
        self.take("punct", "(")
        var = self.take("word")
        self.take("punct", ":")
        inner = self.conjunction(lambda_var=var)
        self.take("punct", ")")
        prop_id: str | None = None
        value: str | None = None
        for c in inner:
            if isinstance(c, Compare) and c.op == "ne" and c.value is _NULL and c.path == f"{var}/value":
                continue  # "is set": what matching on the id alone means
            if not isinstance(c, Compare) or c.op != "eq":
                raise FilterError("only eq (or value ne null) inside Any()")
            if c.path == f"{var}/id":
                prop_id = c.value
            elif c.path == f"{var}/value":
                value = c.value
            else:
                raise FilterError(f"unsupported lambda path {c.path}")
        if prop_id is None:
            raise FilterError("Any() needs an id comparison")
        return AnyExtProp(prop_id, value)

    def done(self) -> None:
        if self.peek() is not None:
            raise FilterError("trailing input")


def parse_filter(text: str) -> list[Clause]:
    parser = _Parser(text)
    clauses = parser.conjunction()
    parser.done()
    return clauses


def parse_event_filter(text: str) -> list[Clause]:
    clauses = parse_filter(text)
    for c in clauses:
        if isinstance(c, Compare):
            if c.path.lower() not in ("start/datetime", "end/datetime"):
                raise FilterError(f"unsupported property {c.path}")
            try:  # reject malformed dates at parse time, not per event
                parse_instant(c.value)
            except GraphError as exc:
                raise FilterError(f"not a date: {c.value}") from exc
    return clauses


def parse_user_filter(text: str) -> list[Compare]:
    out: list[Compare] = []
    for c in parse_filter(text):
        if not isinstance(c, Compare) or c.op != "eq":
            raise FilterError("unsupported user filter")
        if c.path.lower() not in ("mail", "userprincipalname"):
            raise FilterError(f"unsupported property {c.path}")
        out.append(c)
    return out


def parse_expand(text: str) -> str | None | bool:
    """Parse ``$expand``. Returns False when absent, None for all ext props, or the id to include."""
    text = text.strip()
    if not text:
        return False
    m = re.fullmatch(r"singleValueExtendedProperties(?:\s*\(\s*\$filter\s*=(.*)\))?", text, re.I | re.S)
    if not m:
        raise FilterError("unsupported $expand")
    if m.group(1) is None:
        return None
    clauses = parse_filter(m.group(1))
    if len(clauses) != 1 or not isinstance(clauses[0], Compare):
        raise FilterError("unsupported $expand filter")
    c = clauses[0]
    if c.path.lower() != "id" or c.op != "eq":
        raise FilterError("unsupported $expand filter")
    return c.value


def normalize_prop_id(prop_id: str) -> str:
    """Canonical key for an extended property id.

    Graph compares the type and GUID case-insensitively but the ``Name`` part case-sensitively.
    """
    parts = prop_id.strip().split(None, 3)
    if len(parts) == 4 and parts[2].lower() == "name":
        return f"{parts[0].lower()} {parts[1].lower()} name {parts[3]}"
    return " ".join(p.lower() for p in parts)


_CMP = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
}


def matches_event(
    clauses: list[Clause], ext_props: dict[str, str], start: datetime, end: datetime
) -> bool:
    """``ext_props`` is keyed by :func:`normalize_prop_id`."""
    for c in clauses:
        if isinstance(c, AnyExtProp):
            actual = ext_props.get(normalize_prop_id(c.prop_id))
            if actual is None:
                return False
            # Graph compares string values case-insensitively.
            if c.value is not None and actual.casefold() != c.value.casefold():
                return False
        else:
            instant = start if c.path.lower().startswith("start") else end
            if not _CMP[c.op](instant, parse_instant(c.value)):
                return False
    return True
