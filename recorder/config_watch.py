"""Follows config.json: the last valid config, and the error of a broken one."""
from __future__ import annotations

import logging
import os

from shared.config_file import load_config_in_rule
from shared.config_in_force import keep_in_force
from shared.errors import ConfigError, ConfigSyntaxError, PatrolError
from shared.file_cache import file_signature
from shared.global_settings import GlobalSettings

log = logging.getLogger(__name__)
# How long after its last write a file that is no JSON is given to become whole again.
SETTLE_SECONDS = 1.0


INTERVAL = "cycle_interval_seconds"


def when_it_applies(old: dict, new: dict) -> str:
    """What the log says of an edit from ``old`` to ``new`` (both valid): the interval applies
    to the pause between cycles at once (the daemon's ``follow_interval``), the rest from the
    next cycle."""
    interval = GlobalSettings.from_config(new["global_config"]).cycle_interval_seconds
    if interval == GlobalSettings.from_config(old["global_config"]).cycle_interval_seconds:
        return "applies from the next cycle"
    said = f"{INTERVAL} {interval:g} applies at once, to the pause before the next cycle"
    if _without_interval(old) == _without_interval(new):
        return said
    return f"{said}; the other changes apply from the next cycle"


def _without_interval(config: dict) -> dict:
    return {**config, "global_config": {key: value for key, value in
                                        config["global_config"].items() if key != INTERVAL}}


class ConfigWatch:
    """Re-reads the config when its file changes; a broken file keeps the last valid config."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.config: dict | None = None
        self.settings: GlobalSettings | None = None  # the config's global section, read once
        self.error: ConfigError | None = None
        self._signature: tuple | None = None
        self._unkept: dict | None = None  # a valid config not yet copied for the API

    def poll(self, force: bool = False, wall: float | None = None) -> None:
        """Load the file if it changed (or ``force``); log what changed.

        ``wall``: the time now; with it, a file that is no JSON but was written less than
        :data:`SETTLE_SECONDS` ago is read again at the next poll before it counts as broken.
        """
        if self._unkept is not None:  # the copy failed last time: again, the file unchanged
            self._keep(self._unkept)
        signature = file_signature(self.path)
        if signature == self._signature and not force:
            return
        self._signature = signature
        try:
            # A hand edit may point the output where retention could delete
            # what is not ours; such a config is refused like any broken rule.
            config = load_config_in_rule(self.path)
        except ConfigError as exc:
            if isinstance(exc, ConfigSyntaxError) and self._being_written(wall):
                self._signature = None  # read again next time, changed or not
                return
            if self.error is None or exc.message != self.error.message:
                log.error("config rejected, %s: %s", "no valid config yet" if self.config is None
                          else "keeping the last valid one", exc.message)
            self.error = exc
            return
        changed = self.config is not None and config != self.config
        if self.error is not None:
            log.info("config valid again%s",
                     f"; {when_it_applies(self.config, config)}" if changed else "")
        elif changed:
            log.info("config changed; %s", when_it_applies(self.config, config))
        if config != self.config:
            self._keep(config)
        self.config, self.error = config, None
        self.settings = GlobalSettings.from_config(config["global_config"])

    def _being_written(self, wall: float | None) -> bool:
        """Whether the file was written so lately that a writer may not be done with it (an
        editor or ``json.dump`` that truncates and then writes: read in between, the file is
        empty or half a document, which is no operator's mistake to alert about)."""
        if wall is None:
            return False
        try:
            age = wall - os.stat(self.path).st_mtime
        except OSError:
            return False
        # A little ahead counts too: written after ``wall`` was read (or by a host whose clock
        # is a little ahead, on a shared mount).
        return abs(age) < SETTLE_SECONDS

    def _keep(self, config: dict) -> None:
        """The API's read-only views follow the config in force (shared/config_in_force.py)."""
        try:
            keep_in_force(self.path, config)
            self._unkept = None
        except (PatrolError, OSError) as exc:
            if self._unkept is None:
                log.warning("cannot keep a copy of the config in force for the API: %s", exc)
            self._unkept = config
