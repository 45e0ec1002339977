"""How alike two thumbnails are (SSIM on small grey pictures), and each camera's reference picture."""
from __future__ import annotations

import logging
import os
import shutil

from PIL import Image

log = logging.getLogger(__name__)

# Compared at 64 x 48 grey in 8 x 8 windows: the layout of a view (a camera
# turned, knocked or covered), not its details, which change with light and
# traffic. A few ms of CPU per clip.
SIZE = (64, 48)
WINDOW = 8
_C1 = (0.01 * 255) ** 2
_C2 = (0.03 * 255) ** 2


def _pixels(path: str) -> list[int]:
    with Image.open(path) as image:
        return list(image.convert("L").resize(SIZE, Image.Resampling.BOX).tobytes())


def _window_ssim(a: list[int], b: list[int]) -> float:
    n = len(a)
    mean_a, mean_b = sum(a) / n, sum(b) / n
    var_a = sum((x - mean_a) ** 2 for x in a) / n
    var_b = sum((y - mean_b) ** 2 for y in b) / n
    cov = sum((x - mean_a) * (y - mean_b) for x, y in zip(a, b)) / n
    return (((2 * mean_a * mean_b + _C1) * (2 * cov + _C2))
            / ((mean_a ** 2 + mean_b ** 2 + _C1) * (var_a + var_b + _C2)))


def similarity(path: str, reference: str) -> float:
    """The mean SSIM of two pictures' 8 x 8 windows (1.0: alike). :raises OSError: unreadable."""
    a, b = _pixels(path), _pixels(reference)
    width, height = SIZE
    scores = []
    for top in range(0, height, WINDOW):
        for left in range(0, width, WINDOW):
            rows = range(top, top + WINDOW)
            index = [row * width + col for row in rows for col in range(left, left + WINDOW)]
            scores.append(_window_ssim([a[i] for i in index], [b[i] for i in index]))
    return sum(scores) / len(scores)


def reference_similarity(thumbnail: str, reference: str) -> float | None:
    """The thumbnail's similarity to the camera's reference picture; None without either."""
    if not os.path.exists(reference):
        return None
    try:
        return similarity(thumbnail, reference)
    except (OSError, ValueError) as exc:
        log.warning("cannot compare %s with reference %s: %s", thumbnail, reference, exc)
        return None


def keep_reference(thumbnail: str, reference: str) -> None:
    """Make ``thumbnail`` the camera's reference picture if it has none yet."""
    if os.path.exists(reference):
        return
    try:
        os.makedirs(os.path.dirname(reference), exist_ok=True)
        work = reference + ".tmp"
        shutil.copyfile(thumbnail, work)
        os.replace(work, reference)
        log.info("reference picture %s taken from %s", reference, thumbnail)
    except OSError as exc:
        log.warning("cannot keep reference picture %s: %s", reference, exc.strerror or exc)
