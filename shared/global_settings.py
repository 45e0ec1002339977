"""The global section as the recorder reads it: one frozen object per config load, defaults applied."""
from __future__ import annotations

from dataclasses import dataclass, fields

from shared.config import GLOBAL_DEFAULTS, OPTIONAL_DEFAULTS
from shared.quality_settings import QualitySettings


@dataclass(frozen=True)
class GlobalSettings:
    """Every key of ``global_config`` (shared/config.py's GLOBAL_RULES), as attributes."""

    total_poll_duration_seconds: int
    max_concurrent_streams: int
    output_directory: str
    report_filename: str
    connection_timeout_seconds: int
    read_timeout_seconds: int
    poll_cycles: int
    cycle_interval_seconds: int
    audio_mode: str
    retention_max_cycles: int
    retention_max_hours: int
    min_free_space_mb: int
    rtsp_transport: str
    max_concurrent_per_host: int
    offline_after_failures: int
    history_retention_days: int
    alerts: dict  # the validated global_config.alerts ({} when not configured); do not modify
    quality: QualitySettings

    @classmethod
    def from_config(cls, global_config: dict) -> GlobalSettings:
        """The settings of a validated ``global_config``; a key it leaves out takes its default."""
        merged = {**GLOBAL_DEFAULTS, **OPTIONAL_DEFAULTS, **global_config}
        merged["quality"] = QualitySettings.from_config(merged["quality"])
        return cls(**{field.name: merged[field.name] for field in fields(cls)})
