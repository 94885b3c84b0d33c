"""Import rules import-linter cannot state (pyproject.toml [tool.importlinter] has the others): it sees an external
package only whole, so "azure.functions" cannot be told apart from the azure.* SDKs the adapters use."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parents[2]


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_only_the_trigger_layer_imports_azure_functions() -> None:
    offenders = [
        str(path.relative_to(ROOT)) for path in sorted((ROOT / "shared").rglob("*.py"))
        if any(m == "azure.functions" or m.startswith("azure.functions.") for m in imported_modules(path))
    ]
    assert offenders == [], "shared/ is the core: triggers (entrypoints/, function_app.py) translate bindings"


def test_the_rule_sees_every_spelling_of_the_import(tmp_path: Path) -> None:
    for text in ("import azure.functions as func", "from azure.functions import HttpRequest",
                 "from azure import functions", "def f():\n    from azure.functions.servicebus import X"):
        module = tmp_path / "m.py"
        module.write_text(text)
        assert any(m.startswith("azure.functions") for m in imported_modules(module)), text
