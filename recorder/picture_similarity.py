"""How alike two thumbnails are (SSIM on small grey pictures), and each camera's reference picture."""
from __future__ import annotations

import functools
import io
import logging
import os
from array import array
from dataclasses import dataclass
from typing import BinaryIO

from PIL import Image, ImageMath

from shared.atomic import write_bytes_once
from shared.reference_file import read_reference, reference_stamp

log = logging.getLogger(__name__)

# Compared at 64 x 48 grey in 8 x 8 windows: the layout of a view (a camera
# turned, knocked or covered), not its details, which change with light and
# traffic. About 0.2 ms of CPU per clip (docs/PERFORMANCE.md).
SIZE = (64, 48)
WINDOW = 8
_C1 = (0.01 * 255) ** 2
_C2 = (0.03 * 255) ** 2
# A camera's reference is decoded once, not at each of its clips: ~4 KB a camera (its
# 64 x 48 pixels, two arrays of 48 figures), for this many cameras at most.
REFERENCES_KEPT = 2048


def _grey(path: str | BinaryIO) -> Image.Image:
    """The picture as 64 x 48 grey (JPEG decodes straight to a quarter of its size)."""
    with Image.open(path) as image:
        image.draft("L", (SIZE[0] * 2, SIZE[1] * 2))
        return image.convert("L").resize(SIZE, Image.Resampling.BOX)


def _window_means(image: Image.Image) -> array:
    """The mean of each 8 x 8 window, row by row (computed by Pillow, in C)."""
    return array("d", image.reduce(WINDOW).get_flattened_data())


@dataclass(frozen=True)
class _Windows:
    """A picture's windows as SSIM needs them: the 64 x 48 grey picture (3 KB), each window's
    mean and mean square."""

    image: Image.Image
    means: array
    squares: array

    @classmethod
    def of(cls, path: str | BinaryIO) -> _Windows:
        """The windows of the JPEG at ``path`` (or in that file). :raises OSError: unreadable."""
        image = _grey(path)
        floats = image.convert("F")
        squares = ImageMath.lambda_eval(lambda v: v["a"] * v["a"], a=floats)
        return cls(image, _window_means(floats), _window_means(squares))


@functools.lru_cache(maxsize=REFERENCES_KEPT)
def _reference_windows(path: str, mtime_ns: int, size: int) -> _Windows:
    """A reference picture's windows, decoded once while the file stays the same (the
    stamp is part of the key: a new reference set by an operator is read anew); read never
    through a symlink at its name (shared/reference_file.py)."""
    data, _ = read_reference(path)
    return _Windows.of(io.BytesIO(data))


def _ssim(a: _Windows, b: _Windows) -> float:
    """The mean SSIM of the two pictures' windows."""
    product = _window_means(ImageMath.lambda_eval(lambda v: v["a"] * v["b"],
                                                  a=a.image.convert("F"), b=b.image.convert("F")))
    total = 0.0
    for mean_a, mean_b, aa, bb, ab in zip(a.means, b.means, a.squares, b.squares, product):
        var_a, var_b = aa - mean_a * mean_a, bb - mean_b * mean_b
        cov = ab - mean_a * mean_b
        total += (((2 * mean_a * mean_b + _C1) * (2 * cov + _C2))
                  / ((mean_a * mean_a + mean_b * mean_b + _C1) * (var_a + var_b + _C2)))
    return total / len(product)


def similarity(path: str, reference: str) -> float:
    """The mean SSIM of two pictures' 8 x 8 windows (1.0: alike).

    :raises OSError: unreadable, or ``reference`` is a symlink or no regular file.
    """
    stamp = reference_stamp(reference)
    return _ssim(_Windows.of(path), _reference_windows(reference, stamp.st_mtime_ns,
                                                       stamp.st_size))


def reference_similarity(thumbnail: str, reference: str) -> float | None:
    """The thumbnail's similarity to the camera's reference picture; None without either (a
    symlink planted at the reference's name is no reference: logged)."""
    if not os.path.lexists(reference):
        return None
    try:
        return similarity(thumbnail, reference)
    except (OSError, ValueError) as exc:
        log.warning("cannot compare %s with reference %s: %s", thumbnail, reference, exc)
        return None


def keep_reference(thumbnail: str, reference: str) -> None:
    """Make ``thumbnail`` the camera's reference picture if it has none yet (a symlink at its
    name counts as one: left alone, never written through)."""
    if os.path.lexists(reference):
        return
    try:
        os.makedirs(os.path.dirname(reference), exist_ok=True)
        with open(thumbnail, "rb") as handle:
            picture = handle.read()
        # Only if still none: one an operator sets meanwhile (the API) stays.
        if write_bytes_once(reference, picture, or_replace=True):
            log.info("reference picture %s taken from %s", reference, thumbnail)
    except OSError as exc:
        log.warning("cannot keep reference picture %s: %s", reference, exc.strerror or exc)
