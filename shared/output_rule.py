"""Where ``output_directory`` may point: never where writing clips or deleting old cycles could hurt.

The config model checks the value's shape; this rule needs the config file's
location (a relative ``output_directory`` is taken from the config's folder),
so it lives apart and is applied where that location is known. Refused, after
resolving the path both as spelled and with symlinks followed:

- ``/`` and every top-level folder (``/home``, ``/var``, ``/tmp``, ``/data``…);
  a folder inside one (``/var/lib/rtsp-patrol/output``) is fine;
- anything inside a system tree (``/etc``, ``/usr``, ``/bin``, ``/sbin``,
  ``/boot``, ``/dev``, ``/proc``, ``/sys``, ``/lib*``) and the folders directly
  in ``/var`` (``/var/lib``, ``/var/log``…);
- the config's own folder or any folder above it (cycles would sit beside,
  or around, config.json);
- the state folder (``.patrol-state``), anything inside it, or above it;
- a path that cannot be resolved: a symlink loop, a link we may not read;
- a path no folder can be made at: an existing file (or a link to one) there or above it
  (the recorder would fail to make it every cycle). A link to a place still missing is fine:
  a disk not mounted yet may be what makes it.
"""
from __future__ import annotations

import errno
import os
import stat

from shared import settings
from shared.errors import ConfigError, ConfigUnavailable, PatrolError

SYSTEM_TREES = ("bin", "boot", "dev", "etc", "proc", "sbin", "sys", "usr")


def _within(path: str, folder: str) -> bool:
    """True when ``path`` is ``folder`` or inside it (both absolute and normalized)."""
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _problem_of(path: str, config_folders: set[str], state_folders: set[str]) -> str | None:
    parts = [part for part in path.split("/") if part]
    if len(parts) <= 1:
        return f"不能是根目录或顶层目录 ({path})"
    if parts[0] in SYSTEM_TREES or parts[0].startswith("lib"):
        return f"不能位于系统目录 /{parts[0]} 内"
    if parts[0] == "var" and len(parts) == 2:
        return f"不能是系统目录 ({path})"
    if any(_within(folder, path) for folder in config_folders):
        return "不能是配置文件所在目录或其上级目录"
    if any(_within(path, state) or _within(state, path) for state in state_folders):
        return f"不能是状态目录 {settings.STATE_FOLDER} 或其上级、下级目录"
    return None


def _resolved(path: str) -> tuple[str | None, str | None]:
    """``path`` with symlinks followed, or why it cannot be followed (a loop, a link we may not read)."""
    try:
        return os.path.realpath(path, strict=True), None
    except (FileNotFoundError, NotADirectoryError):
        pass  # a folder still to be made: its existing part is resolved below
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return None, "路径中存在符号链接循环"
        return None, f"无法解析目录路径 ({exc.strerror})"
    try:
        return os.path.realpath(path), None
    except OSError as exc:
        return None, f"无法解析目录路径 ({exc.strerror})"


def _no_folder_problem(path: str) -> str | None:
    """Why no folder can be at ``path`` (absolute, normalized, as spelled): the nearest part of
    it that exists, links followed, is a file (or a FIFO, a device…)."""
    probe = path
    while True:
        try:
            if stat.S_ISDIR(os.stat(probe).st_mode):
                return None
            return f"必须是目录或尚不存在的路径: {probe} 已存在且不是目录"
        except (FileNotFoundError, NotADirectoryError):
            pass  # not there (yet), or below a file: look above
        except OSError:
            return None  # unreadable: making it says why, at the time of use
        parent = os.path.dirname(probe)
        if parent == probe:
            return None
        probe = parent


def output_directory_problem(output_directory: str, config_file: str) -> str | None:
    """Why ``output_directory`` (as written in ``config_file``) is refused, or None when it is fine."""
    spelled = settings.resolve_output_dir(output_directory, os.path.abspath(config_file))
    return output_path_problem(spelled, config_file)


def output_path_problem(path: str, config_file: str) -> str | None:
    """Why the output folder at absolute ``path`` is refused now (as spelled, then with links followed)."""
    folder = os.path.dirname(os.path.abspath(config_file))
    state = settings.state_dir(config_file)
    config_folders = {folder, os.path.realpath(folder)}
    state_folders = {state, os.path.realpath(state)}
    # The spelling first: a path into /proc is refused before anything in it is read.
    problem = _problem_of(os.path.normpath(path), config_folders, state_folders)
    if problem:
        return problem
    resolved, problem = _resolved(path)
    if resolved is None:
        return problem
    return (_problem_of(resolved, config_folders, state_folders)
            or _no_folder_problem(os.path.abspath(path)))


class OutputRefused(ConfigUnavailable):
    """The output folder, resolved at the time of use, is one the rule refuses.

    A hand edit or a symlink swapped in while we run can lead there; the API
    answers it like a config it cannot serve (503), the recorder skips the step.
    """

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        self.cause = ConfigError("global_config.output_directory", problem)
        PatrolError.__init__(self, f"输出目录不符合规则, 已拒绝访问: output_directory {problem}")


def check_output_path(path: str, config_file: str | None) -> None:
    """Refuse the output folder at ``path`` when it breaks the rule (no check without a config).

    :raises OutputRefused:
    """
    problem = output_path_problem(path, config_file) if config_file else None
    if problem:
        raise OutputRefused(path, problem)


def check_output_directory(config: dict, config_file: str, field: str) -> None:
    """Refuse a config whose ``output_directory`` breaks the rule; ``field`` names it in the error.

    :raises ConfigError:
    """
    problem = output_directory_problem(config["global_config"]["output_directory"], config_file)
    if problem:
        raise ConfigError(field, problem)
