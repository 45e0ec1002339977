"""Test servers and processes shared by tests/ and bench/: RTSP cameras, gunicorn, the recorder (not shipped)."""
