"""``make install``: a fresh, non-editable venv, config only when missing, units that systemd accepts.

Installs twice into tmp_path: staged under a DESTDIR with the default paths
(units checked with ``systemd-analyze verify --root``), and with every path
overridden (units checked as they are). The installed API is started from its
own venv, away from this checkout, to show it needs nothing from here.
"""
from __future__ import annotations

import getpass
import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from shared.config import validate_config
from testkit.servers import REPO_ROOT, free_port

pytestmark = pytest.mark.integration

INSTALL_TIMEOUT_SECONDS = 600
START_DEADLINE_SECONDS = 30.0
UNITS = ("rtsp-patrol-api.service", "rtsp-patrol-recorder.service")
WORKER_UNIT = "rtsp-patrol-worker.service"  # cluster worker hosts: configured by its --config
DEFAULTS = {"PREFIX": "/opt/rtsp-patrol", "CONFDIR": "/etc/rtsp-patrol",
            "STATEDIR": "/var/lib/rtsp-patrol", "UNITDIR": "/etc/systemd/system"}
SYSTEM_UNITS = Path("/usr/lib/systemd/system")


def make_install(**variables: str) -> str:
    """Run ``make install VAR=value…`` from this checkout; return its output."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    argv = ["make", "--no-print-directory", "install"] + [f"{k}={v}" for k, v in variables.items()]
    done = subprocess.run(argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=INSTALL_TIMEOUT_SECONDS)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def staged(tmp_path_factory) -> Path:
    """``make install DESTDIR=<tmp>``: the default layout, staged."""
    root = tmp_path_factory.mktemp("destdir")
    make_install(DESTDIR=str(root))
    return root


@pytest.fixture(scope="module")
def relocated(tmp_path_factory) -> dict[str, Path]:
    """``make install`` with every path overridden (no DESTDIR), as the current user."""
    base = tmp_path_factory.mktemp("prefix")
    paths = {"PREFIX": base / "opt" / "rp", "CONFDIR": base / "etc" / "rp",
             "STATEDIR": base / "var" / "rp", "UNITDIR": base / "units"}
    make_install(SERVICE_USER=getpass.getuser(), **{k: str(v) for k, v in paths.items()})
    return paths


def unit_settings(path: Path) -> dict[str, list[str]]:
    """Each ``Key=value`` of a unit file, all values of repeated keys in order."""
    settings: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    return settings


def environment_of(settings: dict[str, list[str]]) -> dict[str, str]:
    return dict(value.split("=", 1) for value in settings.get("Environment", []))


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if not found:
        pytest.fail("systemd-analyze is missing: `make deps` installs it (apt-get install systemd)")
    return found


def test_staged_install_layout(staged):
    prefix = staged / "opt/rtsp-patrol"
    for path in ("venv/bin/gunicorn", "venv/bin/rtsp-patrol-recorder",
                 "venv/bin/rtsp-patrol-worker", "venv/bin/python"):
        assert os.access(prefix / path, os.X_OK), path
    assert (prefix / "gunicorn.conf.py").read_bytes() == Path(REPO_ROOT, "gunicorn.conf.py").read_bytes()
    for folder in ("var/lib/rtsp-patrol/state", "var/lib/rtsp-patrol/output"):
        assert (staged / folder).is_dir(), folder
    config = json.loads((staged / "etc/rtsp-patrol/config.json").read_text(encoding="utf-8"))
    validate_config(config)
    assert config["streams"] == []  # no demo cameras in production
    assert config["global_config"]["output_directory"] == "/var/lib/rtsp-patrol/output"
    assert (staged / "etc/rtsp-patrol/environment").stat().st_mode & 0o077 == 0


def test_venv_is_regular_and_names_only_its_final_path(staged):
    venv = staged / "opt/rtsp-patrol/venv"
    site = next(venv.glob("lib/python3*/site-packages"))
    assert (site / "app" / "__init__.py").is_file() and (site / "recorder").is_dir()
    # No editable install: nothing that maps imports back to this checkout.
    assert not list(site.glob("__editable__*")), "an editable install"
    for pth in site.glob("*.pth"):
        assert REPO_ROOT not in pth.read_text(encoding="utf-8", errors="replace"), pth
    for script in [venv / "pyvenv.cfg", *sorted((venv / "bin").iterdir())]:
        if script.is_file() and not script.is_symlink():
            text = script.read_bytes()
            assert str(staged).encode() not in text, f"{script} names the staging root"
            assert REPO_ROOT.encode() not in text, f"{script} names the checkout"
    assert (venv / "bin/gunicorn").read_text().splitlines()[0] == "#!/opt/rtsp-patrol/venv/bin/python"
    compiled = next(site.glob("app/__pycache__/__init__.*.pyc")).read_bytes()
    assert str(staged).encode() not in compiled and b"/opt/rtsp-patrol/venv/lib" in compiled


def test_staged_units_pass_systemd_analyze_verify(staged, tmp_path):
    # --root takes every unit from the staged tree, systemd's own targets included.
    root = tmp_path / "root"
    shutil.copytree(staged, root, symlinks=True)
    shutil.copytree(SYSTEM_UNITS, root / str(SYSTEM_UNITS).lstrip("/"), symlinks=True)
    done = subprocess.run([systemd_analyze(), "verify", f"--root={root}",
                           *(f"/etc/systemd/system/{unit}" for unit in (*UNITS, WORKER_UNIT))],
                          capture_output=True, text=True, timeout=120)
    # Bad values are only warnings (exit code 0): none may be printed.
    assert (done.returncode, done.stderr.strip()) == (0, ""), done.stderr


@pytest.mark.parametrize("unit", UNITS)
def test_units_name_the_installed_files(staged, unit):
    settings = unit_settings(staged / "etc/systemd/system" / unit)
    env = environment_of(settings)
    assert env["RTSP_PATROL_CONFIG"] == "/etc/rtsp-patrol/config.json"
    assert env["RTSP_PATROL_STATE_DIR"] == "/var/lib/rtsp-patrol/state"
    assert settings["EnvironmentFile"] == ["-/etc/rtsp-patrol/environment"]
    executable = settings["ExecStart"][0].split()[0]
    assert os.access(staged / executable.lstrip("/"), os.X_OK), executable
    for folder in [settings["WorkingDirectory"][0], *settings["ReadWritePaths"][0].split()]:
        assert (staged / folder.lstrip("/")).is_dir(), folder
    if unit == "rtsp-patrol-api.service":
        # Behind nginx (deploy/nginx.conf proxies to 127.0.0.1:8080).
        assert env["RTSP_PATROL_BIND"] == "127.0.0.1:8080"
        assert "server 127.0.0.1:8080;" in Path(REPO_ROOT, "deploy/nginx.conf").read_text()


def test_relocated_install_follows_every_path(relocated):
    for unit in UNITS:
        text = (relocated["UNITDIR"] / unit).read_text(encoding="utf-8")
        for default in DEFAULTS.values():
            assert default not in text, (unit, default)
        settings = unit_settings(relocated["UNITDIR"] / unit)
        assert settings["User"] == [getpass.getuser()]
        assert environment_of(settings)["RTSP_PATROL_CONFIG"] == f"{relocated['CONFDIR']}/config.json"
    config = json.loads((relocated["CONFDIR"] / "config.json").read_text(encoding="utf-8"))
    assert config["global_config"]["output_directory"] == f"{relocated['STATEDIR']}/output"
    done = subprocess.run([systemd_analyze(), "verify",
                           *(str(relocated["UNITDIR"] / unit) for unit in UNITS)],
                          capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stderr.strip()) == (0, ""), done.stderr


def test_reinstall_keeps_config_and_replaces_the_venv(relocated):
    config = relocated["CONFDIR"] / "config.json"
    mine = config.read_text(encoding="utf-8").replace('"max_concurrent_streams": 4',
                                                      '"max_concurrent_streams": 3')
    config.write_text(mine, encoding="utf-8")
    stray = relocated["PREFIX"] / "venv" / "stray-file"
    stray.write_text("left by the previous install")
    output = make_install(SERVICE_USER=getpass.getuser(),
                          **{k: str(v) for k, v in relocated.items()})
    assert config.read_text(encoding="utf-8") == mine
    assert f"keeping {config}" in output
    assert not stray.exists(), "the venv was not rebuilt"
    assert not (relocated["PREFIX"] / "venv.new").exists()
    assert not (relocated["PREFIX"] / "venv.old").exists()


def test_installed_api_runs_from_its_own_venv(relocated, tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("RTSP_PATROL_", "GUNICORN")) and k not in ("PYTHONPATH",)}
    env.update(RTSP_PATROL_CONFIG=str(relocated["CONFDIR"] / "config.json"),
               RTSP_PATROL_STATE_DIR=str(relocated["STATEDIR"] / "state"),
               RTSP_PATROL_BIND=f"127.0.0.1:{port}", RTSP_PATROL_WORKERS="1",
               XDG_RUNTIME_DIR=str(tmp_path))
    prefix = relocated["PREFIX"]
    log_path = tmp_path / "api.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([str(prefix / "venv/bin/gunicorn"), "-c",
                                    str(prefix / "gunicorn.conf.py")],
                                   cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        deadline = time.monotonic() + START_DEADLINE_SECONDS
        while True:
            assert process.poll() is None, log_path.read_text()
            try:
                with opener.open(f"http://127.0.0.1:{port}/api/config", timeout=2) as answer:
                    assert json.load(answer)["streams"] == []
                break
            except OSError:
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.1)  # a poll interval
        imported = subprocess.run(
            [str(prefix / "venv/bin/python"), "-c", "import app, recorder; print(app.__file__)"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=True)
        # The code it runs is the installed copy, not this checkout.
        assert imported.stdout.startswith(str(prefix / "venv" / "lib")), imported.stdout
    finally:
        process.terminate()
        process.wait(timeout=15)
    log = log_path.read_text()
    assert REPO_ROOT not in log, log
