"""Indexing, settings and timers: what the host checks and does at start."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from local.funchost import BUILT_IN_ROUTE_CONFLICT, IndexingError, load_local_settings
from local.funchost.indexing import RouteTemplate


@pytest.mark.parametrize(
    ("app", "function"),
    [("tests.funchost.funchost_admin_route_app", "things"), ("tests.funchost.funchost_admin_name_app", "adminCleanup")],
)
def test_a_function_named_or_routed_under_admin_is_refused(start_host: Any, app: str, function: str) -> None:
    with pytest.raises(IndexingError) as refused:
        start_host(app)
    assert BUILT_IN_ROUTE_CONFLICT in str(refused.value)
    assert f"'{function}'" in str(refused.value)


def test_a_missing_schedule_setting_fails_the_start_naming_it(start_host: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SAMPLE_SCHEDULE")
    with pytest.raises(IndexingError, match="SAMPLE_SCHEDULE"):
        start_host()


def test_an_invalid_schedule_fails_the_start(start_host: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAMPLE_SCHEDULE", "*/5 * * * *")  # five fields: not NCRONTAB
    with pytest.raises(IndexingError, match="NCRONTAB"):
        start_host()


def test_a_timer_fires_on_its_schedule(
    start_host: Any, sample: Any, wait_for: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAMPLE_SCHEDULE", "* * * * * *")  # every second
    start_host()
    assert wait_for(lambda: len(sample.timer_runs) >= 2)


def test_settings_are_loaded_without_overriding_the_environment(tmp_path: Path) -> None:
    file = tmp_path / "local.settings.json"
    file.write_text(json.dumps({"IsEncrypted": False, "Values": {"A": "from-file", "B": "from-file", "N": 3}}))
    env = {"B": "from-env"}
    applied = load_local_settings(file, env)
    assert env == {"A": "from-file", "B": "from-env", "N": "3"}
    assert sorted(applied) == ["A", "N"]
    assert load_local_settings(tmp_path / "absent.json", env) == []


@pytest.mark.parametrize(
    ("template", "path", "expected"),
    [
        ("items/{id}", "/items/5", {"id": "5"}),
        ("items/{id}", "/ITEMS/5/", {"id": "5"}),
        ("items/{id}", "/items", None),
        ("items/{id?}", "/items", {}),
        ("files/{*rest}", "/files/a/b.txt", {"rest": "a/b.txt"}),
        ("n/{id:int}", "/n/x", None),
        ("manage/resources/{resource}/active", "/manage/resources/a%40b/active", {"resource": "a%40b"}),
    ],
)
def test_route_templates_match_as_azure_does(template: str, path: str, expected: dict[str, str] | None) -> None:
    assert RouteTemplate.compile(template).match(path) == expected


def test_a_literal_route_is_more_specific_than_a_parameter() -> None:
    literal, param = RouteTemplate.compile("items/special"), RouteTemplate.compile("items/{id}")
    assert literal.specificity > param.specificity
