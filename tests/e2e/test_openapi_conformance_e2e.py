"""The OpenAPI document tells the truth: schemathesis, as a client developer runs it, loads the served document,
generates valid and invalid requests for every operation, sends them with the host keys and an operator's
access token and checks every answer against the document (tests/e2e/schemathesis.toml: the checks, the
bounds, the operations left out).

Runs against a stack of its own, so what the generated requests change (rooms registered, resources opted
out, events accepted) never reaches the other end-to-end tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

import pytest

from local.stack import LocalStack
from tests.e2e.conftest import running_stack

pytestmark = pytest.mark.e2e

CONFIG = Path(__file__).with_name("schemathesis.toml")
LEFT_OUT = ("rotateCredential", "runFunction")  # see the config
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    yield from running_stack(Path(tmp_path_factory.mktemp("openapi-stack")))


@pytest.fixture(autouse=True)
def clean_simulator() -> None:
    """This module's stack is its own: neither the session stack nor its reset is wanted."""


def test_every_answer_conforms_to_the_served_document(own_stack: LocalStack, tmp_path: Path) -> None:
    assert own_stack.host is not None
    env = {**os.environ, "CONNECTOR_TEST_FUNCTION_KEY": own_stack.host.function_key,
           "CONNECTOR_TEST_MASTER_KEY": own_stack.host.master_key,
           "CONNECTOR_TEST_OPERATOR_TOKEN": own_stack.operator_token(), "NO_COLOR": "1"}
    run = subprocess.run(
        [str(SCHEMATHESIS), "--config-file", str(CONFIG), "run", f"{own_stack.base_url}/api/openapi.json",
         "--report", "junit", "--report-dir", str(tmp_path)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, f"schemathesis found failures:\n{run.stdout[-12000:]}\n{run.stderr[-2000:]}"
    with own_stack.client() as client:
        paths = client.get("/api/openapi.json").json()["paths"]
    documented = {f"{method.upper()} {path}" for path, item in paths.items() for method, op in item.items()
                  if method in METHODS and op["operationId"] not in LEFT_OUT}
    [report] = tmp_path.glob("junit-*.xml")
    tested = {case.get("name") for case in ElementTree.parse(report).iter("testcase")}
    # Schemathesis leaves out the document's own operation.
    assert tested == documented - {"GET /api/openapi.json"}
