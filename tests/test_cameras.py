"""Checks the RTSP test cameras and bad endpoints with real ffmpeg/ffprobe."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from testkit.cameras import CameraServer

pytestmark = pytest.mark.integration

# Hard cap per ffmpeg run so a broken server fails the test instead of hanging it.
FFMPEG_TIMEOUT_S = 30.0


@dataclass
class Run:
    """Outcome of one ffmpeg invocation."""

    returncode: int
    output: str
    elapsed: float


def ffmpeg_record(url: str, out: Path, seconds: float, *extra: str) -> Run:
    """Record `seconds` from an RTSP URL over TCP into `out`, copying streams."""
    cmd = [
        "ffmpeg", "-hide_banner", "-nostdin", "-y", *extra,
        "-rtsp_transport", "tcp", "-i", url, "-t", str(seconds), "-c", "copy", str(out),
    ]
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=FFMPEG_TIMEOUT_S)
    return Run(proc.returncode, proc.stderr + proc.stdout, time.monotonic() - start)


def probe(path: Path) -> tuple[list[str], float]:
    """Codec names (stream order) and container duration of a media file."""
    proc = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
        capture_output=True, text=True, timeout=FFMPEG_TIMEOUT_S, check=True,
    )
    info = json.loads(proc.stdout)
    return [s["codec_name"] for s in info["streams"]], float(info["format"]["duration"])


@pytest.mark.parametrize(
    ("mount", "codecs"),
    [
        ("cam1", ["h264"]),
        ("h265", ["hevc"]),
        ("h264_alaw", ["h264", "pcm_alaw"]),
        ("h264_mulaw", ["h264", "pcm_mulaw"]),
        ("picture/healthy_h265", ["hevc"]),
    ],
)
def test_healthy_mount_records_three_seconds(
    camera_server: CameraServer, tmp_path: Path, mount: str, codecs: list[str]
) -> None:
    """A healthy mount yields ~3 s of the advertised codecs."""
    out = tmp_path / f"{mount.replace('/', '_')}.mkv"
    run = ffmpeg_record(camera_server.url(mount), out, 3)
    assert run.returncode == 0, run.output
    got_codecs, duration = probe(out)
    assert got_codecs == codecs
    assert 2.5 <= duration <= 3.5


def test_ending_mount_stops_early(camera_server: CameraServer, tmp_path: Path) -> None:
    """/ending stops after ~3 s even though 15 s were requested."""
    out = tmp_path / "ending.mkv"
    run = ffmpeg_record(camera_server.url("ending"), out, 15)
    assert run.elapsed < 10, run.output
    assert run.returncode == 0, run.output
    _codecs, duration = probe(out)
    assert 0 < duration < 5


def established_peer_ports(pid: int) -> set[int]:
    """Remote ports of the process's established TCP connections (from /proc)."""
    sockets = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            sockets.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
    ports = set()
    with open("/proc/net/tcp", encoding="ascii") as table:
        for line in list(table)[1:]:
            fields = line.split()
            if fields[3] == "01" and f"socket:[{fields[9]}]" in sockets:  # 01: ESTABLISHED
                ports.add(int(fields[2].rsplit(":", 1)[1], 16))
    return ports


def test_stall_mount_stops_sending_but_keeps_the_session(
    camera_server: CameraServer, tmp_path: Path
) -> None:
    """/stall sends ~3 s of video, then nothing: no EOS, no BYE, the connection stays open."""
    cmd = [
        "ffmpeg", "-hide_banner", "-nostdin", "-y", "-rtsp_transport", "tcp",
        "-i", camera_server.url("stall"), "-t", "15", "-c", "copy",
        "-progress", "pipe:1", "-stats_period", "0.2", str(tmp_path / "stall.mkv"),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    frames: list[tuple[float, int]] = []

    def read_progress() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("frame="):
                frames.append((time.monotonic(), int(line.split("=")[1])))

    reader = threading.Thread(target=read_progress, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + FFMPEG_TIMEOUT_S
        # ffmpeg writes a progress block while media flows; blocked on the socket, it is silent.
        while not (frames and frames[-1][1] > 0 and time.monotonic() - frames[-1][0] > 3.0):
            assert proc.poll() is None, "ffmpeg ended: the stream was closed, not stalled"
            assert time.monotonic() < deadline, f"no stall seen: {frames[-3:]}"
            time.sleep(0.1)
        assert 50 <= frames[-1][1] <= 80, frames[-1]  # ~3 s at 25 fps
        assert proc.poll() is None
        assert camera_server.port in established_peer_ports(proc.pid)
    finally:
        proc.kill()
        proc.wait()
        reader.join(timeout=5)


def test_unknown_mount_is_404(camera_server: CameraServer, tmp_path: Path) -> None:
    """An unmounted path is answered with RTSP 404."""
    run = ffmpeg_record(camera_server.url("nosuch"), tmp_path / "x.mkv", 3)
    assert run.returncode != 0
    assert "DESCRIBE failed: 404 Not Found" in run.output
    assert "Server returned 404 Not Found" in run.output


def test_hanging_port_times_out(hanging_port: int, tmp_path: Path) -> None:
    """A silent server makes ffmpeg give up after its socket timeout."""
    url = f"rtsp://127.0.0.1:{hanging_port}/cam1"
    run = ffmpeg_record(url, tmp_path / "x.mkv", 3, "-timeout", "2000000")
    assert run.returncode != 0
    assert 1.5 <= run.elapsed < 10, run.output
    assert "Invalid data found when processing input" in run.output


def test_refusing_port_fails_fast(refusing_port: int, tmp_path: Path) -> None:
    """Nothing listening gives an immediate "Connection refused"."""
    url = f"rtsp://127.0.0.1:{refusing_port}/cam1"
    run = ffmpeg_record(url, tmp_path / "x.mkv", 3)
    assert run.returncode != 0
    assert run.elapsed < 5
    assert "Connection refused" in run.output


def test_bench_mounts_share_one_server(tmp_path: Path) -> None:
    """--mount-count adds /bench1../benchN that serve video concurrently."""
    with CameraServer(mount_count=3) as server:
        procs = [
            subprocess.Popen(
                ["ffmpeg", "-hide_banner", "-nostdin", "-y", "-rtsp_transport", "tcp",
                 "-i", server.url(f"bench{i}"), "-t", "2", "-c", "copy", str(tmp_path / f"b{i}.mkv")],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )
            for i in (1, 2, 3)
        ]
        for proc in procs:
            _out, err = proc.communicate(timeout=FFMPEG_TIMEOUT_S)
            assert proc.returncode == 0, err.decode(errors="replace")
    for i in (1, 2, 3):
        codecs, duration = probe(tmp_path / f"b{i}.mkv")
        assert codecs == ["h264"]
        assert 1.5 <= duration <= 2.5


def test_camera_server_stops_cleanly() -> None:
    """stop() ends the server with a clean exit and releases its port."""
    server = CameraServer().start()
    port = server.port
    server.stop()
    assert server.returncode == 0
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
