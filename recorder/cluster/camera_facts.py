"""What a worker learned of its camera, carried to the coordinator in the task's outcome.

A single box keeps what ffmpeg said of each camera. Its codecs choose the camera's next
command: audio copied when the container takes it (AAC into MP4) instead of made AAC again,
and H.265 in MP4 tagged hvc1 by the recording itself instead of by a second ffmpeg that
remuxes the clip. Its picture size and how soon it answered go to the history. A worker
learns them in its own process: they go beside the task's record in its outcome (FIELD), and
the coordinator's task takes them from there (:class:`CameraFacts`), so that cluster mode
chooses and remembers what a single box does.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from recorder.ffmpeg_command import SourceCodecs

# The outcome's field (beside the task record's own, which shared/task_record.py reads).
FIELD = "camera_facts"
# What ffmpeg names (recorder/ffmpeg_output.py): a codec, a picture size.
_CODEC = re.compile(r"[A-Za-z0-9_]{1,32}")
_SIZE = re.compile(r"[1-9][0-9]{1,4}x[1-9][0-9]{1,4}")
# Longer than any answer a recording waits for (its connection timeout).
MAX_CONNECT_SECONDS = 86400


def facts_of(recording) -> dict:
    """The facts a recorder.recording.Recording learned, as its outcome carries them."""
    codecs = recording.stderr.codecs
    return {"video": codecs.video, "audio": codecs.audio,
            "resolution": recording.stderr.resolution,
            "connect_seconds": recording.connect_seconds}


@dataclass(frozen=True)
class CameraFacts:
    """A camera's facts as a worker sent them (none: all unknown). Read where a Recording's
    ``stderr`` is (its ``codecs`` and ``resolution``)."""

    codecs: SourceCodecs = field(default_factory=SourceCodecs)
    resolution: str | None = None
    connect_seconds: float | None = None

    @classmethod
    def of_outcome(cls, outcome: dict) -> CameraFacts:
        """The facts in a worker's ``outcome``; each one unknown when missing or not of its
        form (a worker of an older version sends none)."""
        raw = outcome.get(FIELD)
        if not isinstance(raw, dict):
            return cls()
        seconds = raw.get("connect_seconds")
        if type(seconds) not in (int, float) or not 0 <= seconds <= MAX_CONNECT_SECONDS:
            seconds = None  # NaN too; an integer of any size is compared, never converted
        return cls(SourceCodecs(_matching(_CODEC, raw.get("video")),
                                _matching(_CODEC, raw.get("audio"))),
                   _matching(_SIZE, raw.get("resolution")), seconds)


def _matching(pattern: re.Pattern, value: object) -> str | None:
    return value if isinstance(value, str) and pattern.fullmatch(value) else None
