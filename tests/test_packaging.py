"""setup.cfg's requirements: the server we run on is bounded to a major we have tested."""
from __future__ import annotations

import configparser
from importlib.metadata import version
from pathlib import Path

from packaging.requirements import Requirement

SETUP_CFG = Path(__file__).resolve().parent.parent / "setup.cfg"


def _requirement(name: str) -> Requirement:
    parser = configparser.ConfigParser()
    parser.read(SETUP_CFG, encoding="utf-8")
    lines = parser["options"]["install_requires"].split("\n")
    found = [Requirement(line) for line in lines if line.strip()]
    return next(req for req in found if req.name == name)


def test_gunicorn_has_an_upper_bound_the_installed_version_meets() -> None:
    requirement = _requirement("gunicorn")
    assert any(spec.operator == "<" for spec in requirement.specifier), requirement
    assert requirement.specifier.contains(version("gunicorn")), requirement
