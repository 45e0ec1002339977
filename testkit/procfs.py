"""The live processes of the machine, read from /proc (for tests and benchmarks that watch children)."""
from __future__ import annotations

import os
from collections.abc import Iterator


def live_processes() -> Iterator[tuple[int, list[str]]]:
    """Each live (not zombie) process: its pid and its /proc/<pid>/stat fields from the state on."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                stat = handle.read()
        except OSError:
            continue
        # The command name (field 2) may hold spaces and parentheses: split after the last ")".
        fields = stat[stat.rfind(")") + 2:].split()
        if fields and fields[0] != "Z":
            yield int(entry), fields
