"""The config in force: the recorder's copy of the last valid config.json it read.

A hand edit that breaks config.json never stops the recorder, which keeps working with the
last valid config; the API's read-only views (results, clips, cameras, the console) follow
that same config from this copy, so one typo does not hide every result. Every gunicorn
worker reads the same file, so all answer alike. Its secrets are masked as the API shows them
(camera, receiver and Redis passwords are written nowhere but config.json); owner-only all
the same. What needs a secret (the cluster's Redis, the config endpoints) reads config.json.
"""
from __future__ import annotations

import os

from shared import settings
from shared.atomic import write_json_atomic
from shared.config_file import load_config
from shared.credentials import masked_config
from shared.errors import ConfigError


def keep_in_force(config_file: str, config: dict) -> None:
    """Write ``config`` (validated) as the one in force, its secrets masked.

    :raises PatrolError: or OSError."""
    path = settings.config_in_force_path(config_file)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # 0600 before the first byte: the atomic write gives its new file the target's mode.
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    write_json_atomic(path, masked_config(config))


def read_in_force(config_file: str) -> dict | None:
    """The config in force, validated again; None when there is none (or it is unreadable)."""
    try:
        return load_config(settings.config_in_force_path(config_file))
    except ConfigError:
        return None
