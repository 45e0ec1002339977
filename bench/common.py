"""What the benchmarks share: process CPU and memory from /proc, timing, result tables."""
from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)
from testkit.recorder_process import wait_for  # noqa: E402,F401 - one waiting helper for tests and benchmarks

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
RESULTS_DIR = os.path.join(REPO, "bench", "results")


@dataclass
class ProcCpu:
    """CPU seconds of a process: its own, and of its children it has waited for."""

    own: float
    children: float

    @property
    def total(self) -> float:
        return self.own + self.children


def proc_cpu(pid: int) -> ProcCpu:
    """utime+stime and cutime+cstime of ``pid`` in seconds."""
    with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    return ProcCpu((utime + stime) / CLOCK_TICKS, (cutime + cstime) / CLOCK_TICKS)


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` in MB."""
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def median_seconds(action: Callable[[], object], runs: int) -> float:
    """Median wall time of ``runs`` calls of ``action``."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def percentile(values: list[float], fraction: float) -> float:
    """The ``fraction`` percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


@dataclass
class Row:
    """One line of the result table."""

    benchmark: str
    ours: float
    baseline: float | None
    unit: str
    target: str
    met: bool

    @property
    def ratio(self) -> float | None:
        return self.ours / self.baseline if self.baseline else None


def print_table(rows: list[Row]) -> None:
    """The markdown table docs/PERFORMANCE.md shows."""
    print("| benchmark | ours | baseline | ratio | target | met |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        ratio = f"{r.ratio:.3f}" if r.ratio is not None else "-"
        base = f"{r.baseline:.4g} {r.unit}" if r.baseline is not None else "-"
        print(f"| {r.benchmark} | {r.ours:.4g} {r.unit} | {base} | {ratio} | {r.target} | "
              f"{'yes' if r.met else 'NO'} |")


def save(name: str, rows: list[Row], extra: dict | None = None) -> None:
    """Keep the raw figures in bench/results/<name>.json."""
    os.makedirs(RESULTS_DIR, exist_ok=True)
    data = {"machine": machine(), "time": time.strftime("%Y-%m-%d %H:%M:%S"),
            "rows": [{**r.__dict__, "ratio": r.ratio} for r in rows], **(extra or {})}
    with open(os.path.join(RESULTS_DIR, f"{name}.json"), "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, ensure_ascii=False)


def machine() -> str:
    """A one-line description of where the figures came from."""
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            model = next((l.split(":", 1)[1].strip() for l in handle if l.startswith("model name")), "")
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {model}, Python {sys.version.split()[0]}"
