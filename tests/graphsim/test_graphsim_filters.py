"""The OData filter parser on its own."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from local.graphsim.filters import (
    AnyExtProp,
    Compare,
    FilterError,
    matches_event,
    normalize_prop_id,
    parse_event_filter,
    parse_expand,
    parse_user_filter,
)

PROP = "String {66F5A359-4659-4830-9070-00040EC6AC6E} Name Key"


def test_an_any_clause_and_a_start_bound_parse_into_two_clauses() -> None:
    clauses = parse_event_filter(
        f"singleValueExtendedProperties/any(ep:ep/id eq '{PROP}' and ep/value eq 'it''s') "
        "and start/dateTime ge '2025-01-01T00:00:00Z'")
    assert clauses == [AnyExtProp(PROP, "it's"),
                       Compare("start/dateTime", "ge", "2025-01-01T00:00:00Z")]


def test_value_ne_null_asks_only_that_the_property_is_set() -> None:
    [clause] = parse_event_filter(f"singleValueExtendedProperties/Any(ep: ep/id eq '{PROP}' and ep/value ne null)")
    assert clause == AnyExtProp(PROP, None)
    when = datetime(2025, 1, 1, tzinfo=UTC)
    assert matches_event([clause], {normalize_prop_id(PROP): "any"}, when, when)
    assert not matches_event([clause], {}, when, when)
    with pytest.raises(FilterError):
        parse_event_filter(f"singleValueExtendedProperties/Any(ep: ep/id eq '{PROP}' and ep/value ne 'x')")


def test_parentheses_and_clause_order_do_not_matter() -> None:
    clauses = parse_event_filter(
        f"(start/dateTime lt '2025-02-01') and singleValueExtendedProperties/Any"
        f"(x: x/value eq 'v' and x/id eq '{PROP}')")
    assert clauses[1] == AnyExtProp(PROP, "v")


@pytest.mark.parametrize("text", [
    "", "subject eq 'x'", "start/dateTime ge 2025-01-01", "start/dateTime ge 'not a date'",
    "start/dateTime ge '2025-01-01' or end/dateTime le '2025-01-02'",
    "singleValueExtendedProperties/Any(ep: ep/value eq 'x')",
    "singleValueExtendedProperties/Any(ep: ep/id ne 'x')",
    "singleValueExtendedProperties/Any(ep: ep/id eq 'x'", "start/dateTime ge 'unterminated",
])
def test_anything_else_is_rejected(text: str) -> None:
    with pytest.raises(FilterError):
        parse_event_filter(text)


def test_user_filters_allow_mail_and_upn_equality_only() -> None:
    assert parse_user_filter("mail eq 'a@b.c'") == [Compare("mail", "eq", "a@b.c")]
    with pytest.raises(FilterError):
        parse_user_filter("startswith(mail,'a')")


def test_expand_selects_all_or_one_property() -> None:
    assert parse_expand("") is False
    assert parse_expand("singleValueExtendedProperties") is None
    assert parse_expand(f"singleValueExtendedProperties($filter=id eq '{PROP}')") == PROP
    with pytest.raises(FilterError):
        parse_expand("attachments")


def test_property_ids_compare_type_and_guid_loosely_but_the_name_exactly() -> None:
    assert normalize_prop_id(PROP) == normalize_prop_id(PROP.lower().replace("key", "Key"))
    assert normalize_prop_id(PROP) != normalize_prop_id(PROP.replace("Key", "key"))


def test_matching_compares_values_case_insensitively_and_instants_exactly() -> None:
    start = datetime(2025, 1, 1, 9, tzinfo=UTC)
    props = {normalize_prop_id(PROP): "Value"}
    clauses = parse_event_filter(
        f"singleValueExtendedProperties/Any(ep: ep/id eq '{PROP}' and ep/value eq 'VALUE') "
        "and start/dateTime ge '2025-01-01T10:00:00+01:00'")
    assert matches_event(clauses, props, start, start)
    assert not matches_event(clauses, props, start.replace(hour=8), start)
    assert not matches_event(clauses, {}, start, start)
