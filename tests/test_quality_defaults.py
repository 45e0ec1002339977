"""The default thresholds against the figures measured on real footage (docs/QUALITY.md).

Each row is one scene's measure as bench/quality_scenes.py printed it (1 s and 4 s
keyframes agree to 0.1): the healthy scenes, real daylight and the night variants
derived from it, must get no verdict from it, and the faults made from the real
daylight scene must get theirs. A default moved past a measured scene fails here.
"""
from __future__ import annotations

import pytest

from recorder.picture_quality import Recorded, judge, with_similarity
from shared.quality_settings import QualitySettings
from tests.test_picture_quality import GOOD, _frames

HEALTHY = Recorded(10.0, 100, 1_300_000, 10.0)

# (scene, figure of a keyframe, similarity to the reference, the verdicts expected)
MEASURED = [
    ("building_day: sharpest healthy scene", {"blur": 5.54}, None, []),
    ("vtest_blur_s2: slightly soft lens", {"blur": 5.32}, None, []),
    ("vtest_blur_s6: smeared lens", {"blur": 7.43}, None, ["blurred"]),
    ("vtest_blur_s12: smeared lens", {"blur": 10.41}, None, ["blurred"]),
    ("vtest_ir_night_dim: IR night, derived", {"signalstats.YAVG": 34.3}, 0.317, []),
    ("vtest_colour_night: colour night, derived", {"signalstats.YAVG": 53.4}, 0.524, []),
    ("vtest_too_dark", {"signalstats.YAVG": 11.4}, None, ["too_dark"]),
    ("tree_day: bright sky", {"signalstats.YAVG": 166.5}, None, []),
    ("vtest_too_bright", {"signalstats.YAVG": 250.4}, None, ["too_bright"]),
    ("vtest_day: grass and brick", {"signalstats.VAVG": 128 - 17.7}, 0.80, []),
    ("vtest_cast_magenta", {"signalstats.VAVG": 128 + 30.1}, None, ["colour_cast"]),
    ("vtest_turned: camera turned", {}, 0.065, ["scene_changed"]),
    ("other_scene: another view", {}, 0.075, ["scene_changed"]),
]


@pytest.mark.parametrize("scene,figure,similarity,issues", MEASURED,
                         ids=[row[0].split(":")[0] for row in MEASURED])
def test_defaults_hold_on_real_footage(scene, figure, similarity, issues) -> None:
    limits = QualitySettings()
    quality = with_similarity(judge(_frames(*[{**GOOD, **figure}] * 5), HEALTHY, limits),
                              similarity, limits)
    assert quality["issues"] == issues, scene


# Keyframes 2 s apart or more (FREEZE_SECONDS): freezedetect puts freeze_start and
# freeze_end on the same keyframe when it differs from the one before (the gap alone
# is as long as its minimum freeze). Every camera with keyframes >= 2 s apart was
# then "frozen" on real footage (docs/QUALITY.md, 4 s keyframes).
def test_keyframes_further_apart_than_the_freeze_are_not_frozen() -> None:
    moving = [GOOD,
              {**GOOD, "freezedetect.freeze_start": 0, "freezedetect.freeze_duration": 1,
               "freezedetect.freeze_end": 1},
              {**GOOD, "freezedetect.freeze_start": 1, "freezedetect.freeze_duration": 1,
               "freezedetect.freeze_end": 2}]
    quality = judge(_frames(*moving), HEALTHY, QualitySettings())
    assert quality["issues"] == []


def test_keyframes_far_apart_that_stay_alike_are_still_frozen() -> None:
    # The keyframe after the first is alike: the freeze opens there and stays open.
    still = [GOOD, {**GOOD, "freezedetect.freeze_start": 0}, GOOD, GOOD]
    quality = judge(_frames(*still), HEALTHY, QualitySettings())
    assert quality["issues"] == ["frozen"]
