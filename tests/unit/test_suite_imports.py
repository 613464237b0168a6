"""The test suite's own shape: shared helpers live in tests/support/, so no test module (nor
conftest) imports another test module, and support never imports a test."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(TESTS.parent).with_suffix("").parts)


def _is_test_module(name: str) -> bool:
    last = name.rsplit(".", 1)[-1]
    return last.startswith("test_") or last == "conftest"


def _imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
            found.extend(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level:
            found.append("." * node.level + (node.module or ""))
        elif isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize("path", sorted(TESTS.rglob("*.py")),
                         ids=lambda p: str(p.relative_to(TESTS)))
def test_no_test_module_is_imported_by_another(path):
    wrong = [name for name in _imports(path)
             if name.startswith(".")
             or (name.startswith("tests.") and _is_test_module(name))
             or (name.startswith("tests.") and not name.startswith("tests.support"))]
    assert wrong == [], f"{_module_name(path)} imports {wrong}: move shared code to tests/support/"
