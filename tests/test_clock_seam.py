"""The one clock seam (shared/clock.py) and the walk of one stream in recorder/__init__.py."""
from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

import recorder
from testkit.servers import REPO_ROOT

PRODUCT = ("app", "recorder", "shared")
SEAM = Path(REPO_ROOT) / "shared" / "clock.py"
CLOCK_READINGS = {"time", "monotonic", "sleep"}


def _product_files() -> list[Path]:
    return sorted(path for package in PRODUCT for path in (Path(REPO_ROOT) / package).rglob("*.py")
                  if path != SEAM)


def _clock_uses(tree: ast.Module) -> list[tuple[int, str]]:
    """Lines that read or wait on the clock without the seam: ``time.monotonic()``, but also
    ``clock=time.monotonic`` (a bypass all the same) and ``from time import sleep``."""
    aliases = {alias.asname or "time" for node in ast.walk(tree) if isinstance(node, ast.Import)
               for alias in node.names if alias.name == "time"}
    uses = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr in CLOCK_READINGS
                and isinstance(node.value, ast.Name) and node.value.id in aliases):
            uses.append((node.lineno, f"{node.value.id}.{node.attr}"))
        elif isinstance(node, ast.ImportFrom) and node.module == "time":
            uses += [(node.lineno, f"from time import {alias.name}") for alias in node.names
                     if alias.name in CLOCK_READINGS | {"*"}]
    return uses


def test_the_scan_sees_every_way_of_reading_the_clock() -> None:
    source = ("import time\nimport time as t\nfrom time import sleep\n"
              "a = time.time()\nb = t.monotonic\ntime.sleep(1)\nc = time.strftime('%Y')\n")
    assert sorted(_clock_uses(ast.parse(source))) == [
        (3, "from time import sleep"), (4, "time.time"), (5, "t.monotonic"), (6, "time.sleep")]


def test_no_clock_reading_outside_the_clock_seam() -> None:
    found = [f"{path.relative_to(REPO_ROOT)}:{line}: {use}" for path in _product_files()
             for line, use in _clock_uses(ast.parse(path.read_text(encoding="utf-8")))]
    assert found == [], "read the time through shared.clock.SYSTEM_CLOCK:\n" + "\n".join(found)


# --- the walk of one stream (issue 10, "Done when") --------------------------------------------

WALK = recorder.__doc__.partition("\n\n")[2].strip().splitlines()[1:]  # under its heading
QUALIFIED = re.compile(r"([\w/]+)\.py::([\w.]*\w)")
BARE = re.compile(r"(?<![\w:.])([A-Z]\w*)\.([a-z_]\w*)")


def _resolve(module: str, dotted: str) -> object:
    found = importlib.import_module(module)
    for name in dotted.split("."):
        found = getattr(found, name)
    return found


def test_the_walk_is_10_to_15_lines() -> None:
    assert 10 <= len(WALK) <= 15, WALK


@pytest.mark.parametrize(("path", "dotted"), QUALIFIED.findall("\n".join(WALK)))
def test_every_hop_of_the_walk_exists(path: str, dotted: str) -> None:
    assert callable(_resolve(path.replace("/", "."), dotted))


def test_every_method_named_alone_exists_in_a_module_of_the_walk() -> None:
    text = "\n".join(WALK)
    modules = {path.replace("/", ".") for path, _ in QUALIFIED.findall(text)}
    bare = BARE.findall(text)
    assert bare  # e.g. Daemon.step, StderrLog.feed
    for cls, method in bare:
        owners = [m for m in modules if hasattr(importlib.import_module(m), cls)]
        assert owners, f"{cls} is in no module the walk names"
        assert all(callable(_resolve(m, f"{cls}.{method}")) for m in owners), f"{cls}.{method}"
