"""The names of the events the recorder writes to the outbox (SPEC "Events"), defined once."""
from __future__ import annotations

CAMERA_OFFLINE = "camera.offline"
CAMERA_RECOVERED = "camera.recovered"
CAMERA_REMINDER = "camera.reminder"  # while a camera stays offline (alerts.remind_every_hours)
CYCLE_FINISHED = "cycle.finished"
DISK_LOW = "recorder.disk_low"
CONFIG_ERROR = "recorder.config_error"

EVENTS = (CAMERA_OFFLINE, CAMERA_RECOVERED, CAMERA_REMINDER, CYCLE_FINISHED, DISK_LOW,
          CONFIG_ERROR)
# Events about one camera: silenced by the stream's "alerts": false.
CAMERA_EVENTS = (CAMERA_OFFLINE, CAMERA_RECOVERED, CAMERA_REMINDER)
