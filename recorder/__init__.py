"""The recorder daemon: patrol cycles that record every RTSP stream with ffmpeg."""
