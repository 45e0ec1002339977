"""The picture checks' verdicts: their names in a ``quality`` object, in order, and their labels."""
from __future__ import annotations

# Each verdict (README "Picture checks") and the Chinese label operators know it by
# (shared/i18n.py has their English); the order is the order issues are listed in.
# The names, as the recorder judges them (recorder/picture_quality.py) and a quality object
# lists them.
BLACK, FROZEN, BLURRED = "black", "frozen", "blurred"
TOO_DARK, TOO_BRIGHT, COLOUR_CAST = "too_dark", "too_bright", "colour_cast"
LOW_FPS, LOW_BITRATE, SCENE_CHANGED = "low_fps", "low_bitrate", "scene_changed"
VERDICT_LABELS = {
    BLACK: "黑屏",
    FROZEN: "画面冻结",
    BLURRED: "模糊",
    TOO_DARK: "过暗",
    TOO_BRIGHT: "过亮",
    COLOUR_CAST: "偏色",
    LOW_FPS: "帧率低",
    LOW_BITRATE: "码率低",
    SCENE_CHANGED: "画面偏移/遮挡",
}
VERDICTS = tuple(VERDICT_LABELS)
