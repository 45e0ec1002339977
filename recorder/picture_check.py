"""The picture check of one recording: its thumbnail's files, its figures, its verdict at the end."""
from __future__ import annotations

import logging
import os

from recorder.clip_files import discard
from recorder.ffmpeg_command import CheckFiles, sample_gap
from recorder.picture_quality import PictureLog, Recorded, judge, unchecked, with_similarity
from recorder.picture_similarity import keep_reference, reference_similarity
from shared.camera_roster import camera_id
from shared.clip_names import (attempt_name, blur_figures_work_name, figures_work_name,
                               thumbnail_name, thumbnail_work_name)
from shared.quality_settings import QualitySettings
from shared.settings import reference_picture

log = logging.getLogger(__name__)


def reference_path(references_dir: str, clip_name: str) -> str:
    """Where the camera of ``clip_name`` keeps its reference picture."""
    return reference_picture(references_dir, camera_id(clip_name))


def held_to_reference(quality: dict, thumbnail: str, reference: str,
                      limits: QualitySettings) -> dict:
    """``quality`` with ``thumbnail`` held against the camera's ``reference`` picture
    (``scene_changed``); with no reference yet, the first healthy thumbnail becomes it, the
    one the later ones are held against. A recording's own check does it, and a cluster
    coordinator for its workers' (the references are the recorder's). A picture not checked
    (or a quality of another form) is returned as it is."""
    if not isinstance(quality, dict) or quality.get("checked") is not True:
        return quality
    quality = with_similarity(quality, reference_similarity(thumbnail, reference), limits)
    if quality.get("issues") == []:
        keep_reference(thumbnail, reference)
    return quality


def outcome_held_to_reference(outcome: dict, cycle_dir: str, references_dir: str | None,
                              limits: QualitySettings) -> dict:
    """A worker's ``outcome`` with its picture held against the camera's reference
    (:func:`held_to_reference`), by the coordinator, which keeps the references (a worker has
    none): the thumbnail is the one beside the clip in ``cycle_dir``. Without a clip, without
    references or with the checks off, ``outcome`` as it is."""
    clip = outcome.get("output_file")
    if not (clip and isinstance(clip, str)) or references_dir is None or not limits.enabled:
        return outcome  # (a malformed outcome is the record's to clean: task_record.from_stored)
    name = os.path.basename(clip)
    return {**outcome, "quality": held_to_reference(
        outcome.get("quality"), os.path.join(cycle_dir, thumbnail_name(name)),
        reference_path(references_dir, name), limits)}


class PictureCheck:
    """Where ffmpeg puts its figures and thumbnail; :meth:`finish` reads them and judges.

    A cluster job's ``attempt`` has work files of its own (a retry's never mixed with a dead
    attempt's); the thumbnail they become is the clip's, whichever attempt publishes it.
    """

    def __init__(self, cycle_dir: str, clip_name: str, limits: QualitySettings,
                 references_dir: str | None, attempt: int = 1) -> None:
        def work_path(name: str) -> str:
            return os.path.join(cycle_dir, attempt_name(name, attempt))

        self.limits = limits
        self.work_path = work_path(thumbnail_work_name(clip_name))
        self.path = os.path.join(cycle_dir, thumbnail_name(clip_name))
        self.reference = (reference_path(references_dir, clip_name) if references_dir
                          else None)
        self.files = CheckFiles(self.work_path, work_path(figures_work_name(clip_name)),
                                work_path(blur_figures_work_name(clip_name)),
                                limits.sample_seconds)

    def went_back(self) -> bool:
        """True when the figures so far show a keyframe no later than the one before."""
        figures = _figures(self.files.figures, complete_lines=True)
        return figures.went_back(sample_gap(self.files.sample_seconds))

    def finish(self, clip_kept: bool, recorded: Recorded, judged: bool = True) -> dict:
        """The quality object (unchecked when not ``judged``); the thumbnail is kept beside a
        kept clip, removed otherwise; the figures files are removed either way."""
        figures = _figures(self.files.figures).with_blur(_figures(self.files.blur_figures))
        self._discard_figures()
        published = self._publish(clip_kept)
        if not published or not judged:
            return unchecked()
        quality = judge(figures, recorded, self.limits)
        if self.reference:
            quality = held_to_reference(quality, self.path, self.reference, self.limits)
        return quality

    def abandon(self) -> None:
        """A recording given up before its end (its ffmpeg killed): every work file removed."""
        discard(self.work_path)
        self._discard_figures()

    def _discard_figures(self) -> None:
        for path in (self.files.figures, self.files.blur_figures):
            discard(path)

    def _publish(self, clip_kept: bool) -> bool:
        try:
            if clip_kept and os.path.getsize(self.work_path) > 0:
                os.replace(self.work_path, self.path)
                return True
            os.unlink(self.work_path)
        except FileNotFoundError:
            pass  # ffmpeg saw no keyframe: no thumbnail
        except OSError as exc:
            log.warning("thumbnail %s: %s", self.work_path, exc.strerror or exc)
        return False


def _figures(path: str, complete_lines: bool = False) -> PictureLog:
    """What ffmpeg wrote to a figures file (while it runs, whole lines only)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return PictureLog()
    return PictureLog.parse(text[:text.rfind("\n") + 1] if complete_lines else text)
