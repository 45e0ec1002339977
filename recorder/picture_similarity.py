"""How alike two thumbnails are (SSIM on small grey pictures), and each camera's reference picture."""
from __future__ import annotations

import logging
import os
import shutil

from PIL import Image, ImageMath

log = logging.getLogger(__name__)

# Compared at 64 x 48 grey in 8 x 8 windows: the layout of a view (a camera
# turned, knocked or covered), not its details, which change with light and
# traffic. A few ms of CPU per clip.
SIZE = (64, 48)
WINDOW = 8
_C1 = (0.01 * 255) ** 2
_C2 = (0.03 * 255) ** 2


def _grey(path: str) -> Image.Image:
    """The picture as 64 x 48 grey floats (JPEG decodes straight to a quarter of its size)."""
    with Image.open(path) as image:
        image.draft("L", (SIZE[0] * 2, SIZE[1] * 2))
        return image.convert("L").resize(SIZE, Image.Resampling.BOX).convert("F")


def _window_means(image: Image.Image) -> list[float]:
    """The mean of each 8 x 8 window, row by row (computed by Pillow, in C)."""
    return list(image.reduce(WINDOW).get_flattened_data())


def similarity(path: str, reference: str) -> float:
    """The mean SSIM of two pictures' 8 x 8 windows (1.0: alike). :raises OSError: unreadable."""
    a, b = _grey(path), _grey(reference)
    product = ImageMath.lambda_eval(lambda v: v["a"] * v["b"], a=a, b=b)
    squares_a = ImageMath.lambda_eval(lambda v: v["a"] * v["a"], a=a)
    squares_b = ImageMath.lambda_eval(lambda v: v["b"] * v["b"], b=b)
    scores = []
    for mean_a, mean_b, aa, bb, ab in zip(*map(_window_means, (a, b, squares_a, squares_b,
                                                              product))):
        var_a, var_b = aa - mean_a ** 2, bb - mean_b ** 2
        cov = ab - mean_a * mean_b
        scores.append(((2 * mean_a * mean_b + _C1) * (2 * cov + _C2))
                      / ((mean_a ** 2 + mean_b ** 2 + _C1) * (var_a + var_b + _C2)))
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
