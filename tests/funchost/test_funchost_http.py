"""HTTP triggers and the host admin API, served by the in-process local host."""

from __future__ import annotations

import logging
import re
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest

from local.funchost import FUNCTION_KEY_ENV, MASTER_KEY_ENV, LocalFunctionHost


def test_an_anonymous_route_gets_route_params_query_and_optional_params(client: httpx.Client) -> None:
    got = client.get("/api/greet/ada", params={"x": "1"}).json()
    assert got == {"route": {"name": "ada"}, "params": {"x": "1"}, "method": "GET"}
    assert client.get("/api/greet/ada/hello/").json()["route"] == {"name": "ada", "greeting": "hello"}


def test_a_function_route_needs_a_function_key_or_the_master_key(client: httpx.Client, host: LocalFunctionHost) -> None:
    assert client.get("/api/secure/7").status_code == 401
    assert client.get("/api/secure/7", params={"code": "wrong"}).status_code == 401
    ok = client.post("/api/secure/7", params={"code": host.function_key}, content=b"payload")
    assert (ok.status_code, ok.text) == (201, "id=7 body=payload")
    assert ok.headers["x-sample"] == "yes"
    assert ok.headers["content-type"] == "text/plain; charset=utf-8"
    by_master = client.get("/api/secure/7", headers={"x-functions-key": host.master_key})
    assert by_master.status_code == 201


def test_an_admin_route_needs_the_master_key(client: httpx.Client, host: LocalFunctionHost) -> None:
    assert client.get("/api/manage/status").status_code == 401
    assert client.get("/api/manage/status", headers={"x-functions-key": host.function_key}).status_code == 401
    assert client.get("/api/manage/status", headers={"x-functions-key": host.master_key}).json() == {"ok": True}


def test_routes_honour_constraints_methods_and_the_prefix(client: httpx.Client, host: LocalFunctionHost) -> None:
    key = {"code": host.master_key}
    assert client.get("/api/secure/abc", params=key).status_code == 404, "{id:int} rejects letters"
    assert client.delete("/api/secure/7", params=key).status_code == 404, "method not bound"
    assert client.get("/greet/ada").status_code == 404, "routes live under /api"
    assert client.get("/api/nowhere").status_code == 404


def test_an_exception_gives_a_bare_500_and_is_logged(client: httpx.Client, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="funchost"):
        response = client.get("/api/boom")
    assert response.status_code == 500
    assert response.content == b""
    assert "secret internal detail" in caplog.text
    assert "Executed 'Functions.boom' (Failed" in caplog.text


def test_generated_keys_are_kept_private_and_never_logged(
    start_host: Any, host_env: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        host = start_host()
    key_file = host_env / "state" / "host-keys.json"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert str(key_file) in caplog.text
    assert host.master_key not in caplog.text and host.function_key not in caplog.text
    assert host.master_key != host.function_key

    host.stop()
    again = start_host()
    assert (again.master_key, again.function_key) == (host.master_key, host.function_key)


def test_keys_from_the_environment_win(start_host: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MASTER_KEY_ENV, "master-from-env")
    monkeypatch.setenv(FUNCTION_KEY_ENV, "function-from-env")
    host = start_host()
    with httpx.Client(base_url=host.base_url) as c:
        assert c.get("/api/secure/1", headers={"x-functions-key": "function-from-env"}).status_code == 201
        assert c.get("/admin/host/status", headers={"x-functions-key": "master-from-env"}).status_code == 200


def test_the_admin_api_needs_the_master_key(client: httpx.Client, host: LocalFunctionHost) -> None:
    assert client.get("/admin/host/status").status_code == 401
    assert client.get("/admin/host/status", headers={"x-functions-key": host.function_key}).status_code == 401
    status = client.get("/admin/host/status", headers={"x-functions-key": host.master_key}).json()
    assert status["state"] == "Running" and status["version"]


def test_the_admin_api_lists_functions_with_their_triggers(client: httpx.Client, host: LocalFunctionHost) -> None:
    listed = client.get("/admin/functions", headers={"x-functions-key": host.master_key}).json()
    by_name = {f["name"]: f for f in listed}
    assert by_name["greet"]["trigger"] == "httpTrigger"
    assert by_name["greet"]["route"] == "greet/{name}/{greeting?}"
    assert by_name["greet"]["invokeUrlTemplate"] == f"{host.base_url}/api/greet/{{name}}/{{greeting?}}"
    assert (by_name["work"]["trigger"], by_name["work"]["queueName"]) == ("serviceBusTrigger", "sample-work")
    assert by_name["work"]["isSessionsEnabled"] is True
    assert (by_name["tick"]["trigger"], by_name["tick"]["schedule"]) == ("timerTrigger", "0 0 0 1 1 *")


def test_posting_to_admin_functions_runs_a_timer_now(
    client: httpx.Client, host: LocalFunctionHost, sample: Any, wait_for: Any
) -> None:
    key = {"x-functions-key": host.master_key}
    assert client.post("/admin/functions/tick", json={"input": ""}).status_code == 401
    assert client.post("/admin/functions/tick", json={"input": ""}, headers=key).status_code == 202
    assert wait_for(lambda: sample.timer_runs) == [{"past_due": False}]


def test_posting_to_admin_functions_runs_a_queue_function_with_the_input(
    client: httpx.Client, host: LocalFunctionHost, sample: Any, wait_for: Any
) -> None:
    key = {"x-functions-key": host.master_key}
    response = client.post("/admin/functions/work", json={"input": '{"n": 42}'}, headers=key)
    assert response.status_code == 202
    [entry] = wait_for(lambda: sample.processed)
    assert entry["n"] == 42


def test_admin_function_invocation_rejects_http_and_unknown_functions(
    client: httpx.Client, host: LocalFunctionHost
) -> None:
    key = {"x-functions-key": host.master_key}
    assert client.post("/admin/functions/greet", json={"input": ""}, headers=key).status_code == 400
    assert client.post("/admin/functions/missing", json={"input": ""}, headers=key).status_code == 404


def test_each_invocation_is_logged_as_the_functions_host_logs_it(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="funchost"):
        assert client.get("/api/greet/ada").status_code == 200
        assert client.get("/api/boom").status_code == 500
    lines = [r.getMessage() for r in caplog.records if r.name == "funchost"]
    started = re.compile(r"^Executing 'Functions\.(\w+)' \(Reason='This function was programmatically called via"
                         r" the host APIs\.', Id=([0-9a-f-]{36})\)$")
    finished = re.compile(r"^Executed 'Functions\.(\w+)' \((Succeeded|Failed), Id=([0-9a-f-]{36}), Duration=\d+ms\)$")
    starts = {m.group(2): m.group(1) for m in map(started.match, lines) if m}
    ends = {m.group(3): (m.group(1), m.group(2)) for m in map(finished.match, lines) if m}
    assert sorted(starts.values()) == ["boom", "greet"]
    assert {ends[invocation] for invocation in starts} == {("greet", "Succeeded"), ("boom", "Failed")}


def test_any_path_reaches_routing_and_an_encoded_slash_stays_in_its_segment(client: httpx.Client) -> None:
    # Kestrel decodes the path except %2F; a segment may hold any character, a line break included.
    assert client.get("/api/greet/a%0Ab").json()["route"] == {"name": "a\nb"}
    assert client.get("/api/greet/a%2Fb").json()["route"] == {"name": "a%2Fb"}
    unknown = client.request("TRACE", "/api/no%0Awhere")
    assert (unknown.status_code, unknown.content) == (404, b""), "the host's bare 404, never a text/plain one"


def test_a_disabled_function_is_not_listened_to_and_its_route_answers_only_the_master_key(
        start_host: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("AzureWebJobs.secure.Disabled", "true")
    monkeypatch.setenv("AzureWebJobs.work.Disabled", "1")
    with caplog.at_level(logging.INFO, logger="funchost"):
        host = start_host()
    with httpx.Client(base_url=host.base_url, timeout=30) as client:
        assert client.get("/api/secure/7", params={"code": host.function_key}).status_code == 404
        assert client.get("/api/secure/7", params={"code": host.master_key}).status_code == 201
        assert client.get("/api/greet/ada").status_code == 200, "the others run as before"
    assert "Function 'work' is disabled" in caplog.text
    assert "Function 'tick' is disabled" not in caplog.text
