"""Who may import whom: bench/ and testkit/ never reach into tests/ (testkit holds what they share)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize("package", ["bench", "testkit"])
def test_package_does_not_import_the_tests(package: str) -> None:
    files = sorted((REPO / package).rglob("*.py"))
    assert files
    offending = {str(path.relative_to(REPO)): sorted(m for m in imported_modules(path)
                                                     if m == "tests" or m.startswith("tests."))
                 for path in files}
    assert {name: mods for name, mods in offending.items() if mods} == {}


def test_testkit_runs_without_pytest() -> None:
    # bench/ uses testkit outside a pytest run: pytest wiring stays in tests/.
    for path in sorted((REPO / "testkit").rglob("*.py")):
        assert "pytest" not in imported_modules(path), path
