"""Recovered cycles whose history waits for a valid config: kept in the state folder until then.

A restart without a valid config still writes the report of the cycle a killed recorder left
(recorder/recovery.py), but it cannot put that report's tasks into the history nor send its
``cycle.finished``: the cameras and the alert receivers are in the config. Each such cycle is
noted here (``held_recoveries.json``, beside the status file) so that neither is lost, across
another restart too; the history feed hands them over once a valid config is loaded
(recorder/history_feed.py) and lets go of the note.
"""
from __future__ import annotations

import logging
import os
from typing import NamedTuple

from shared import settings
from shared.atomic import read_json, write_json_atomic
from shared.counts import counted
from shared.errors import PatrolError

log = logging.getLogger(__name__)
HELD_FILE = "held_recoveries.json"
# The status message's words while interrupted cycles wait (shared/i18n.py has the English).
WAITING_MESSAGE = "{count} 个中断的巡检等待有效的配置"


class HeldCycle(NamedTuple):
    """A cycle's report whose tasks (and, with ``announce``, its cycle.finished) wait."""

    folder: str
    report_filename: str
    announce: bool


def held_path(config_path: str) -> str:
    """Where the held cycles are noted."""
    return os.path.join(settings.state_dir(config_path), HELD_FILE)


def held_cycles(config_path: str) -> list[HeldCycle]:
    """The cycles held, oldest first ([] when none, or the note cannot be read: logged)."""
    try:
        raw = read_json(held_path(config_path))  # a FIFO planted there is refused at once
        return [HeldCycle(str(item["folder"]), str(item["report_filename"]),
                          bool(item["announce"])) for item in raw]
    except FileNotFoundError:
        return []
    except (OSError, ValueError, TypeError, KeyError) as exc:
        log.error("cannot read the recovered cycles held for a valid config (%s): %s",
                  held_path(config_path), exc)
        return []


def waiting_note(config_path: str) -> str:
    """At a start without a valid config: the interrupted cycles held, said in the log and
    returned as the status message's words ("" when none)."""
    waiting = [os.path.basename(held.folder) for held in held_cycles(config_path)
               if held.announce]
    if not waiting:
        return ""
    log.warning("no valid config: %s held in %s wait for one (%s): their tasks and "
                "cycle.finished go out once a valid config is loaded",
                counted(len(waiting), "interrupted cycle"), held_path(config_path),
                ", ".join(waiting))
    return WAITING_MESSAGE.format(count=len(waiting))


def hold(config_path: str, cycle: HeldCycle) -> None:
    """Note ``cycle`` (once: a recovery killed and done again notes it again)."""
    cycles = held_cycles(config_path)
    announce = cycle.announce or any(held.announce for held in cycles
                                     if held.folder == cycle.folder)
    _write(config_path, [held for held in cycles if held.folder != cycle.folder]
           + [cycle._replace(announce=announce)])


def release(config_path: str) -> None:
    """The held cycles are handed over: the note goes."""
    try:
        os.remove(held_path(config_path))
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.error("cannot remove %s: %s", held_path(config_path), exc)


def _write(config_path: str, cycles: list[HeldCycle]) -> None:
    try:
        write_json_atomic(held_path(config_path), [cycle._asdict() for cycle in cycles])
    except (OSError, PatrolError) as exc:
        log.error("cannot note the recovered cycles held for a valid config in %s: %s",
                  held_path(config_path), exc)
