"""Turning ffmpeg's work file into the clip: keep it only when it holds playable media."""
from __future__ import annotations

import json
import logging
import os
import subprocess

from recorder.ffmpeg_command import build_retag_argv, container_of
from recorder.processes import ProcessRunner
from shared.clip_names import (PART_SUFFIX, TAG_PREFIX, WORK_FIGURES_SUFFIXES, WORK_PREFIX,
                               clip_of_thumbnail_work, is_attempt_leftover, retag_name,
                               thumbnail_name)

log = logging.getLogger(__name__)
PROBE_TIMEOUT_SECONDS = 20.0


def probe(runner: ProcessRunner, path: str) -> dict | None:
    """ffprobe's view of a file (``format`` and ``streams``), or None when it cannot read it."""
    argv = ["ffprobe", "-v", "error", "-show_entries",
            "format=duration:stream=codec_type,codec_name,codec_tag_string", "-of", "json"]
    if path.endswith(PART_SUFFIX):
        argv += ["-f", {".mkv": "matroska", ".ts": "mpegts"}.get(container_of(path), "mp4")]
    try:
        result = runner.run(argv + [path], timeout=PROBE_TIMEOUT_SECONDS)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    try:
        info = json.loads(result.stdout)
    except ValueError:
        return None
    videos = [s for s in info.get("streams", []) if s.get("codec_type") == "video"]
    return info if videos else None


def playable_seconds(info: dict | None) -> float:
    """The duration ffprobe reports, 0 when it is unknown."""
    try:
        return float((info or {}).get("format", {}).get("duration") or 0)
    except ValueError:
        return 0.0


def discard(path: str) -> None:
    """Remove a work file (gone already is fine)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("cannot remove %s: %s", path, exc.strerror)


def finalize_clip(runner: ProcessRunner, work_path: str, final_path: str, *, trusted: bool,
                  retag_hevc: bool) -> bool:
    """Publish ``work_path`` as ``final_path`` if it holds playable media; else remove it.

    ``trusted``: ffmpeg finished normally with the full length, so probing is
    skipped (it would cost as much CPU as the recording itself).
    ``retag_hevc``: remux an H.265 clip with the ``hvc1`` tag.
    """
    if not os.path.exists(work_path):
        return False
    if os.path.getsize(work_path) == 0:
        discard(work_path)
        return False
    if not trusted and playable_seconds(probe(runner, work_path)) <= 0:
        discard(work_path)
        return False
    try:
        if retag_hevc:
            folder, name = os.path.split(final_path)
            tagged = os.path.join(folder, retag_name(name))
            result = runner.run(build_retag_argv(work_path, tagged), timeout=PROBE_TIMEOUT_SECONDS)
            if result.returncode == 0:
                os.replace(tagged, final_path)
                discard(work_path)
                return True
            discard(tagged)
        os.replace(work_path, final_path)
        return True
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.error("cannot publish clip %s: %s", final_path, exc)
        discard(work_path)
        return False


def recover_work_files(runner: ProcessRunner, cycle_dir: str) -> list[str]:
    """After a crash: publish the playable work files of an interrupted cycle, remove the rest."""
    published = []
    try:
        names = os.listdir(cycle_dir)
    except OSError:
        return published
    for name in names:
        if is_attempt_leftover(name):  # a cluster retry's clip, thumbnail or figures: none kept
            discard(os.path.join(cycle_dir, name))
        elif name.startswith(WORK_PREFIX) and name.endswith(PART_SUFFIX):
            final = os.path.join(cycle_dir, name[len(WORK_PREFIX):-len(PART_SUFFIX)])
            if name.startswith(TAG_PREFIX):
                discard(os.path.join(cycle_dir, name))
            elif finalize_clip(runner, os.path.join(cycle_dir, name), final, trusted=False,
                               retag_hevc=False):
                published.append(final)
    _recover_thumbnails(cycle_dir, [name for name in names if not is_attempt_leftover(name)],
                        published)
    return published


def _recover_thumbnails(cycle_dir: str, names: list[str], published: list[str]) -> None:
    """A killed ffmpeg's thumbnail (the last thumbnail keyframe it wrote): kept as the thumbnail
    of a clip recovered, removed otherwise."""
    for name in names:
        if name.startswith(WORK_PREFIX) and name.endswith(WORK_FIGURES_SUFFIXES):
            discard(os.path.join(cycle_dir, name))  # a killed ffmpeg's figures: no verdict to draw
        clip = clip_of_thumbnail_work(name)
        if clip is None:
            continue
        work = os.path.join(cycle_dir, name)
        try:
            if os.path.join(cycle_dir, clip) in published and os.path.getsize(work) > 0:
                os.replace(work, os.path.join(cycle_dir, thumbnail_name(clip)))
            else:
                os.unlink(work)
        except OSError as exc:
            log.warning("thumbnail work file %s: %s", work, exc.strerror or exc)
