"""Where things live: the config file, the state folder (status and control files), the output."""
from __future__ import annotations

import os

CONFIG_ENV = "RTSP_PATROL_CONFIG"
STATE_DIR_ENV = "RTSP_PATROL_STATE_DIR"
OUTPUT_DIR_ENV = "RTSP_PATROL_OUTPUT_DIR"
DEFAULT_CONFIG = "config.json"
STATE_FOLDER = ".patrol-state"
REFERENCES_FOLDER = "references"


def config_path(cli_value: str | None = None) -> str:
    """The config file: ``--config``, else ``$RTSP_PATROL_CONFIG``, else ``./config.json``."""
    return os.path.abspath(cli_value or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def state_dir(config_file: str) -> str:
    """The folder of the status and control files.

    ``$RTSP_PATROL_STATE_DIR``, else ``.patrol-state`` beside the config: a
    sub-folder, so ``POST /api/config/save`` (plain names only) can never
    overwrite them.
    """
    return os.path.abspath(os.environ.get(STATE_DIR_ENV)
                           or os.path.join(os.path.dirname(config_file), STATE_FOLDER))


def status_path(config_file: str) -> str:
    """The status file written by the recorder."""
    return os.path.join(state_dir(config_file), "status.json")


def control_path(config_file: str) -> str:
    """The control file written by the API."""
    return os.path.join(state_dir(config_file), "control.json")


def config_in_force_path(config_file: str) -> str:
    """The recorder's copy of the last valid config it read (shared/config_in_force.py)."""
    return os.path.join(state_dir(config_file), "config.in-force.json")


def references_dir(config_file: str) -> str:
    """The folder of the cameras' reference pictures (``<camera id>.jpg``; README "Picture checks")."""
    return os.path.join(state_dir(config_file), REFERENCES_FOLDER)


def reference_picture(references_folder: str, camera: str) -> str:
    """A camera's reference picture in that folder."""
    return os.path.join(references_folder, camera + ".jpg")


def resolve_output_dir(output_directory: str, config_file: str) -> str:
    """The absolute output folder; a relative ``output_directory`` is taken from the config's folder.

    Both processes resolve it the same way, whatever their working directory.
    """
    return os.path.normpath(os.path.join(os.path.dirname(config_file), output_directory))
