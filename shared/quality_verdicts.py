"""The picture checks' verdicts: their names in a ``quality`` object, in order, and their labels."""
from __future__ import annotations

# Each verdict (README "Picture checks") and the Chinese label operators know it by
# (shared/i18n.py has their English); the order is the order issues are listed in.
VERDICT_LABELS = {
    "black": "黑屏",
    "frozen": "画面冻结",
    "blurred": "模糊",
    "too_dark": "过暗",
    "too_bright": "过亮",
    "colour_cast": "偏色",
    "low_fps": "帧率低",
    "low_bitrate": "码率低",
    "scene_changed": "画面偏移/遮挡",
}
VERDICTS = tuple(VERDICT_LABELS)
