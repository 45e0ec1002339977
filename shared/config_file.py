"""config.json on disk: load with located errors, and every edit as a locked read-modify-write.

Every version of the file has a tag (:func:`config_etag` of its bytes). A
writer may pass ``if_match``, the tags it last saw: the write then happens
only if the file's bytes, read under the lock, still carry one of them, so an
edit made meanwhile (by hand or through another worker) is never overwritten
unseen. ``if_match`` is None (no condition), or a set of quoted tags where
``"*"`` matches any existing file.
"""
from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Callable, Collection

from shared import atomic, settings, strict_json
from shared.alert_rules import check_receivers_once
from shared.atomic import dump_json, write_text_atomic
from shared.config import validate_config
from shared.config_rules import plain_file_name_problem
from shared.credentials import has_masked_secrets, with_stored_secrets
from shared.errors import (ConfigError, ConfigSyntaxError, ConfigUnavailable,
                           PreconditionFailed, UnsafePath)
from shared.json_lines import line_of
from shared.locks import locked
from shared.output_rule import check_output_directory
from shared.regular_file import RefusedFile, open_regular_file

MAX_CONFIG_BYTES = 16 * 1024 * 1024
# The field a broken output rule is reported on (in a whole config).
OUTPUT_FIELD = "global_config.output_directory"
IfMatch = Collection[str] | None


def parse_config_text(text: str, file: str) -> dict:
    """Parse and validate config text; errors name the file, line and field.

    :raises ConfigError:
    """
    try:
        data = strict_json.loads(text)
    except json.JSONDecodeError as exc:
        hint, line = _comma_hint(exc)
        raise ConfigSyntaxError(
            "", f"JSON 格式错误: {exc.msg} (第{exc.lineno}行第{exc.colno}列{hint})",
            file=file, line=line) from None
    except (ValueError, RecursionError) as exc:
        # RecursionError: absurdly deep nesting in a hand edit must not crash the reader.
        raise ConfigSyntaxError("", f"JSON 格式错误: {exc}", file=file) from None
    try:
        return validate_config(data)
    except ConfigError as exc:
        raise ConfigError(exc.field, exc.reason, file=file,
                          line=line_of(text, exc.field)) from None


def _comma_hint(exc: json.JSONDecodeError) -> tuple[str, int]:
    """A hand edit's usual slip, said where it is, and the line to show.

    JSON notices a missing comma, or one too many before a closing bracket, only at
    the next token, often the next line's start: the slip is at the end of the line
    before.
    """
    before = exc.doc[:exc.pos].rstrip()
    line = before.count("\n") + 1
    if not before or line == exc.lineno:
        return "", exc.lineno
    if exc.msg == "Expecting ',' delimiter":
        return f"; 可能是第{line}行末尾缺少逗号", line
    closing = exc.doc[exc.pos:].lstrip()[:1] in ("}", "]")  # not a bad key or value after it
    if before.endswith(",") and closing and exc.msg in (
            "Expecting property name enclosed in double quotes", "Expecting value"):
        return f"; 可能是第{line}行末尾多了一个逗号", line
    return "", exc.lineno


def config_etag(raw: bytes) -> str:
    """The strong HTTP entity tag (quoted) of config.json's bytes."""
    return '"' + hashlib.sha256(raw).hexdigest()[:32] + '"'


def written_etag(config: dict) -> str:
    """The tag of config.json right after an edit here wrote ``config``."""
    return config_etag(dump_json(config).encode("utf-8"))


def load_config(path: str) -> dict:
    """Read and validate the config file.

    :raises ConfigError: missing, unreadable, not JSON, or a rule broken.
    """
    return load_config_tagged(path)[0]


def load_config_tagged(path: str) -> tuple[dict, str]:
    """The validated config and the tag of the very bytes it was parsed from.

    :raises ConfigError: missing, unreadable, not JSON, or a rule broken.
    """
    raw = _read_bytes(path)
    return _parse_bytes(raw, os.path.basename(path)), config_etag(raw)


def load_config_in_rule(path: str) -> dict:
    """The config as the recorder takes it: read, validated, and its ``output_directory``
    held to the output rule (shared/output_rule.py), errors naming the file and line.

    :raises ConfigError:
    """
    return _parse_in_rule(_read_bytes(path), path)


def _parse_in_rule(raw: bytes, path: str) -> dict:
    name = os.path.basename(path)
    config = _parse_bytes(raw, name)
    try:
        check_output_directory(config, path, OUTPUT_FIELD)
    except ConfigError as exc:
        line = line_of(raw.decode("utf-8-sig"), OUTPUT_FIELD)
        raise ConfigError(exc.field, exc.reason, file=name, line=line) from None
    return config


def _read_bytes(path: str) -> bytes:
    name = os.path.basename(path)
    try:
        # config.json may be a symlink (one file kept elsewhere); a FIFO, a folder or a device
        # there is refused before a byte is read.
        handle, _ = open_regular_file(path, follow_symlinks=True)
    except FileNotFoundError:
        raise ConfigError("", "配置文件不存在", file=name) from None
    except RefusedFile:
        raise ConfigError("", "配置文件不是普通文件 (目录, FIFO 或设备)", file=name) from None
    except OSError as exc:
        raise ConfigError("", f"无法读取配置文件: {exc.strerror}", file=name) from None
    with handle:
        try:
            return handle.read(MAX_CONFIG_BYTES + 1)
        except OSError as exc:
            raise ConfigError("", f"无法读取配置文件: {exc.strerror}", file=name) from None


def _parse_bytes(raw: bytes, name: str) -> dict:
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError("", "配置文件过大", file=name)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError("", "配置文件不是 UTF-8 文本", file=name) from None
    return parse_config_text(text, name)


def _checked_bytes(path: str, if_match: IfMatch) -> bytes:
    """config.json's bytes, once ``if_match`` was checked against exactly these bytes.

    Call it holding the lock, and use the bytes it returns: a hand edit takes
    no lock, so reading the file a second time could see another version.

    :raises PreconditionFailed: ``if_match`` is given and the file does not carry one of its tags.
    :raises ConfigError: the file is missing or unreadable (and no ``if_match`` was given).
    """
    try:
        raw = _read_bytes(path)
    except ConfigError:
        if if_match is not None:
            raise PreconditionFailed(None) from None
        raise
    if if_match is not None and "*" not in if_match and config_etag(raw) not in if_match:
        raise PreconditionFailed(config_etag(raw))
    return raw


def _current_config(path: str, if_match: IfMatch) -> dict:
    """The checked, validated config on disk. :raises PreconditionFailed, ConfigUnavailable:"""
    try:
        return _parse_bytes(_checked_bytes(path, if_match), os.path.basename(path))
    except ConfigError as exc:
        raise ConfigUnavailable(exc) from None


def edit_config(path: str, change: Callable[[dict], dict], if_match: IfMatch = None) -> dict:
    """Apply ``change`` to the current config under the lock and write the result atomically.

    ``change`` gets a validated copy and returns the validated new config; a
    :class:`ConfigError` from it leaves the file untouched.

    :raises PreconditionFailed: ``if_match`` does not match the file (nothing is changed).
    :raises ConfigUnavailable: the file on disk is invalid (fix it or replace it whole).
    :raises ConfigError: the change breaks a rule (the output_directory rule included).
    :raises LockTimeout, WriteError:
    """
    with locked(path):
        current = _current_config(path, if_match)
        new = with_stored_secrets(change(current), current)
        check_receivers_once(new)
        check_output_directory(new, path, "output_directory")
        write_text_atomic(path, dump_json(new))
        return new


def replace_config(path: str, data: object, if_match: IfMatch = None) -> dict:
    """Replace the whole config (also repairs a broken or missing file).

    Masked passwords sent back keep the stored ones (see shared/credentials.py).

    :raises PreconditionFailed, ConfigError, LockTimeout, WriteError:
    """
    new = validate_config(data)
    check_output_directory(new, path, OUTPUT_FIELD)
    masked = has_masked_secrets(new)
    with locked(path):
        if if_match is not None or masked:
            new = with_stored_secrets(new, _stored_config(path, if_match, parse=masked))
            check_receivers_once(new)
        write_text_atomic(path, dump_json(new))
    return new


def _stored_config(path: str, if_match: IfMatch, parse: bool) -> dict | None:
    """The config on disk (if ``parse``) once ``if_match`` was checked; None if missing or invalid.

    :raises PreconditionFailed:
    """
    try:
        raw = _checked_bytes(path, if_match)
        return _parse_bytes(raw, os.path.basename(path)) if parse else None
    except ConfigError:
        return None


def read_config_checked(path: str, if_match: IfMatch = None) -> tuple[dict, str]:
    """The validated config and its tag, read under the lock once ``if_match`` was checked;
    checked as the recorder checks it (the ``output_directory`` rule too), so that a reload
    the API calls good is one the recorder takes.

    :raises PreconditionFailed, ConfigError, LockTimeout:
    """
    with locked(path):
        raw = _checked_bytes(path, if_match)
    return _parse_in_rule(raw, path), config_etag(raw)


def save_config_as(path: str, file_path: str | None, if_match: IfMatch = None) -> tuple[str, str]:
    """Write the current config to ``file_path`` inside the config's folder.

    A copy is never readable by more users than config.json (:func:`_copy_mode`).
    Returns the target's absolute path and config.json's tag afterwards.

    :raises UnsafePath: the target is not directly in the config's folder, or is a symlink.
    :raises ConfigError: the target name is not a ``.json`` file name.
    :raises PreconditionFailed: ``if_match`` does not match config.json.
    :raises ConfigUnavailable: the config on disk is invalid.
    :raises LockTimeout, WriteError:
    """
    target = save_target(path, file_path)
    if os.path.abspath(target) == os.path.abspath(path):
        with locked(path):
            current = _current_config(path, if_match)
            write_text_atomic(path, dump_json(current))
        return target, written_etag(current)
    try:
        current, tag = read_config_checked(path, if_match)
    except ConfigError as exc:
        raise ConfigUnavailable(exc) from None
    # Under config.json's own lock: one lock file beside it, not a ``<name>.lock`` left next
    # to every copy saved.
    with locked(path):
        write_text_atomic(target, dump_json(current), mode=_copy_mode(path, target))
    return target, tag


def _copy_mode(path: str, target: str) -> int:
    """The mode of a copy of config.json written to ``target``: config.json's permission bits,
    narrowed by those of the file it replaces, and always the owner's to read and write.

    The copy holds the cameras' passwords: it must not be readable by anyone config.json
    keeps out (a new file's default, 0644 under systemd's umask 0022, would let every local
    user read them), nor by anyone a narrower copy it replaces kept out.
    """
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode) & 0o777
    except OSError:
        mode = 0o600  # gone meanwhile: owner only, the narrowest readable mode
    try:
        mode &= stat.S_IMODE(os.lstat(target).st_mode)
    except OSError:
        mode &= atomic.NEW_FILE_MODE  # a new file: the umask narrows it too
    return mode | stat.S_IRUSR | stat.S_IWUSR


# A copy goes directly into config.json's folder, never into a folder below it (the state
# folder, the output tree) nor anywhere else.
_NOT_DIRECTLY_IN_FOLDER = "file_path 必须是配置文件所在目录中的文件名 (不含子目录)"


def save_target(path: str, file_path: str | None) -> str:
    """Where ``POST /api/config/save`` may write. :raises UnsafePath, ConfigError:"""
    folder = os.path.dirname(os.path.abspath(path))
    if file_path is None:
        return os.path.abspath(path)
    if not isinstance(file_path, str) or not file_path.strip():
        raise ConfigError("file_path", "必须是非空字符串")
    if "\x00" in file_path or ".." in file_path.replace("\\", "/").split("/"):
        raise UnsafePath(_NOT_DIRECTLY_IN_FOLDER)
    target = os.path.abspath(os.path.join(folder, file_path))
    if os.path.dirname(target) != folder:
        raise UnsafePath(_NOT_DIRECTLY_IN_FOLDER)
    name = os.path.basename(target)
    if (plain_file_name_problem(name) or not name.lower().endswith(".json")
            or name == ".json"):  # no control characters, backslash or overlong name either
        raise ConfigError("file_path", "必须是以 .json 结尾的普通文件名")
    if os.path.islink(target) or (os.path.exists(target) and not os.path.isfile(target)):
        raise UnsafePath("file_path 不能是符号链接或目录")
    if _is_state_file(path, target):  # $RTSP_PATROL_STATE_DIR set to the config's own folder
        raise UnsafePath(f"file_path 不能是记录器的状态文件 {name}")
    return target


def _is_state_file(path: str, target: str) -> bool:
    """Whether ``target`` is one of the recorder's and the API's own JSON files in the state
    folder, however either folder is spelled (a symlink to it, ``..``)."""
    state = (settings.status_path(path), settings.control_path(path),
             settings.config_in_force_path(path))
    real = os.path.realpath(target)
    return any(os.path.realpath(file) == real for file in state)
