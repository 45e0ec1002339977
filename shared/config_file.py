"""config.json on disk: load with located errors, and every edit as a locked read-modify-write."""
from __future__ import annotations

import json
import os
from collections.abc import Callable

from shared.atomic import dump_json, write_text_atomic
from shared.config import validate_config
from shared.errors import ConfigError, ConfigUnavailable, UnsafePath
from shared.json_lines import line_of
from shared.locks import locked
from shared.output_rule import check_output_directory

MAX_CONFIG_BYTES = 16 * 1024 * 1024


def parse_config_text(text: str, file: str) -> dict:
    """Parse and validate config text; errors name the file, line and field.

    :raises ConfigError:
    """
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ConfigError("", f"JSON 格式错误: {exc.msg} (第{exc.lineno}行第{exc.colno}列)",
                          file=file, line=exc.lineno) from None
    except (ValueError, RecursionError) as exc:
        # RecursionError: absurdly deep nesting in a hand edit must not crash the reader.
        raise ConfigError("", f"JSON 格式错误: {exc}", file=file) from None
    try:
        return validate_config(data)
    except ConfigError as exc:
        raise ConfigError(exc.field, exc.reason, file=file,
                          line=line_of(text, exc.field)) from None


def load_config(path: str) -> dict:
    """Read and validate the config file.

    :raises ConfigError: missing, unreadable, not JSON, or a rule broken.
    """
    name = os.path.basename(path)
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError("", "配置文件不存在", file=name) from None
    except OSError as exc:
        raise ConfigError("", f"无法读取配置文件: {exc.strerror}", file=name) from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError("", "配置文件过大", file=name)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError("", "配置文件不是 UTF-8 文本", file=name) from None
    return parse_config_text(text, name)


def edit_config(path: str, change: Callable[[dict], dict]) -> dict:
    """Apply ``change`` to the current config under the lock and write the result atomically.

    ``change`` gets a validated copy and returns the validated new config; a
    :class:`ConfigError` from it leaves the file untouched.

    :raises ConfigUnavailable: the file on disk is invalid (fix it or replace it whole).
    :raises ConfigError: the change breaks a rule (the output_directory rule included).
    :raises LockTimeout, WriteError:
    """
    with locked(path):
        try:
            current = load_config(path)
        except ConfigError as exc:
            raise ConfigUnavailable(exc) from None
        new = change(current)
        check_output_directory(new, path, "output_directory")
        write_text_atomic(path, dump_json(new))
        return new


def replace_config(path: str, data: object) -> dict:
    """Replace the whole config (also repairs a broken file). :raises ConfigError, LockTimeout, WriteError:"""
    new = validate_config(data)
    check_output_directory(new, path, "global_config.output_directory")
    with locked(path):
        write_text_atomic(path, dump_json(new))
    return new


def save_config_as(path: str, file_path: str | None) -> str:
    """Write the current config to ``file_path`` inside the config's folder; return its absolute path.

    :raises UnsafePath: the target is outside the config's folder or a symlink.
    :raises ConfigError: the target name is not a ``.json`` file name.
    :raises ConfigUnavailable: the config on disk is invalid.
    """
    target = save_target(path, file_path)
    if os.path.abspath(target) == os.path.abspath(path):
        with locked(path):
            current = _load_or_unavailable(path)
            write_text_atomic(path, dump_json(current))
        return target
    current = _load_or_unavailable(path)
    with locked(target):
        write_text_atomic(target, dump_json(current))
    return target


def save_target(path: str, file_path: str | None) -> str:
    """Where ``POST /api/config/save`` may write. :raises UnsafePath, ConfigError:"""
    folder = os.path.dirname(os.path.abspath(path))
    if file_path is None:
        return os.path.abspath(path)
    if not isinstance(file_path, str) or not file_path.strip():
        raise ConfigError("file_path", "必须是非空字符串")
    if "\x00" in file_path or ".." in file_path.replace("\\", "/").split("/"):
        raise UnsafePath("file_path 必须位于配置文件所在目录内")
    target = os.path.abspath(os.path.join(folder, file_path))
    if os.path.dirname(target) != folder:
        raise UnsafePath("file_path 必须位于配置文件所在目录内")
    name = os.path.basename(target)
    if name.startswith(".") or not name.lower().endswith(".json") or name == ".json":
        raise ConfigError("file_path", "必须是以 .json 结尾的普通文件名")
    if os.path.islink(target) or (os.path.exists(target) and not os.path.isfile(target)):
        raise UnsafePath("file_path 不能是符号链接或目录")
    return target


def _load_or_unavailable(path: str) -> dict:
    try:
        return load_config(path)
    except ConfigError as exc:
        raise ConfigUnavailable(exc) from None


def _reject_constant(name: str) -> None:
    # Python's json accepts NaN and Infinity; JSON does not, and neither do we.
    raise ValueError(f"不支持的数值 {name}")
