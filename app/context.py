"""Where the current request's files are; re-derived on every request so no worker holds stale state."""
from __future__ import annotations

import os
import shutil

from flask import current_app

from shared import settings
from shared.config_file import load_config_in_rule, load_config_tagged
from shared.config_in_force import read_in_force
from shared.errors import ConfigError, ConfigUnavailable
from shared.file_cache import FileCache
from shared.output_tree import OutputDir


def config_file() -> str:
    """The config file this app serves."""
    return current_app.config["CONFIG_PATH"]


def control_file() -> str:
    """The control file (desired scheduler state)."""
    return settings.control_path(config_file())


def current_config() -> dict:
    """The config on disk, validated. :raises ConfigUnavailable:"""
    return current_config_tagged()[0]


def current_config_tagged() -> tuple[dict, str]:
    """The config on disk, validated, with the tag of the bytes it came from. :raises ConfigUnavailable:"""
    try:
        return load_config_tagged(config_file())
    except ConfigError as exc:
        raise ConfigUnavailable(exc) from None


def _config_in_rule(path: str) -> dict:
    try:
        return load_config_in_rule(path)
    except ConfigError as exc:
        raise ConfigUnavailable(exc) from None


def config_as_written() -> dict | None:
    """config.json validated but not held to the output rule (which a hand edit may break while
    the rest, the cluster section among it, stays good), once per file version; None when it
    does not validate."""
    return _CONFIGS.get(config_file(), _validated_or_none, kind="as written")


def _validated_or_none(path: str) -> dict | None:
    try:
        return load_config_tagged(path)[0]
    except ConfigError:
        return None


# The validated config per file version, for the read-only views of many cameras:
# validating 1,000 streams costs ~10 ms, a stat to see the file is unchanged ~10 µs.
_CONFIGS = FileCache()


def cached_config() -> dict:
    """The config the read-only views follow (:func:`config_in_force`'s); read-only.

    :raises ConfigUnavailable:
    """
    return config_in_force()[0]


def config_in_force() -> tuple[dict, ConfigError | None]:
    """config.json validated as the recorder takes it (again only when the file changed) and
    None; when a hand edit broke it (its ``output_directory`` rule too), the last valid one
    the recorder read, as it works with it, and the file's error.

    :raises ConfigUnavailable: the file is broken and the recorder kept no valid one.
    """
    try:
        return _CONFIGS.get(config_file(), _config_in_rule), None
    except ConfigUnavailable as exc:
        kept = _CONFIGS.get(settings.config_in_force_path(config_file()),
                            lambda _path: read_in_force(config_file()))
        if kept is None:
            raise
        return kept, exc.cause


def output_dir(config: dict | None = None) -> tuple[OutputDir, str]:
    """The output folder and the folder relative client paths start from.

    A folder given on the command line wins (relative to the working
    directory, like any argument); else the config's ``output_directory``,
    relative to the config's folder, as the recorder resolves it (``config``:
    one already read).
    """
    given = current_app.config.get("OUTPUT_DIR")
    if given:
        base = current_app.config.get("OUTPUT_BASE") or os.getcwd()
        return OutputDir.from_spelling(given, base, config_file()), base
    base = os.path.dirname(config_file())
    spelling = (config or cached_config())["global_config"]["output_directory"]
    return OutputDir.from_spelling(spelling, base, config_file()), base


def output_free_bytes(config: dict) -> int | None:
    """Free bytes on the file system the output folder is (or will be, before the recorder's
    first cycle makes it) on; None when not even its nearest existing parent can be read."""
    path = output_dir(config)[0].root
    while not os.path.isdir(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def status_file() -> str:
    """The status file written by the recorder."""
    return settings.status_path(config_file())
