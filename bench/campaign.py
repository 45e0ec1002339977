"""The standing attack campaign at the figures we hold ourselves to (issue 11).

Runs the campaign's tests in a pytest subprocess with their counts raised
through the environment, and reads the counts each test prints:

- generated hostile client paths (tests/test_properties.py, three path
  properties: the path check, the delete on a real tree, ``DELETE /api/video``
  over the API): none names anything but one clip of a real cycle, none 5xx;
- gunicorn workers SIGKILLed while 4 threads write (tests/test_fault_injection.py):
  config.json always valid and holding every write answered 200;
- concurrent stream adds across 4 gunicorn workers (tests/test_gunicorn.py):
  every add answered 200 and present in config.json exactly once.

``--quick`` runs today's CI counts. The results are in docs/RELIABILITY.md.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass

from bench.common import REPO, Row, print_table, save


@dataclass(frozen=True)
class Attack:
    """One scaled test: what it counts, its environment knob, its figures, what it prints."""

    name: str
    test: str
    knob: str
    full: int
    quick: int
    unit: str
    counted: str  # a regex; group 1 is a count the test printed (summed over matches)
    tests: int = 1  # how many tests share the knob (each runs `quick` or `full` of them)


# Three path properties run with EXAMPLES each: 3 x 3,400 = 10,200 generated paths.
PATHS_PER_PROPERTY = 3_400
PATHS_TARGET, KILLS_TARGET, ADDS_TARGET = 10_000, 100, 1_000
ATTACKS = (
    Attack("generated hostile paths: none escaped, none 5xx",
           "tests/test_properties.py::test_video_location_never_names_anything_but_a_clip_directly_in_a_cycle "
           "tests/test_properties.py::test_deleting_a_client_path_removes_at_most_one_regular_clip_of_a_real_cycle "
           "tests/test_properties.py::test_delete_video_over_the_api_never_escapes_and_never_answers_5xx",
           "CAMPAIGN_EXAMPLES", PATHS_PER_PROPERTY, 200, "paths", r"^(\d+) paths: ", tests=3),
    Attack("SIGKILLs of gunicorn writers: config valid, every 200 kept",
           "tests/test_fault_injection.py::test_sigkill_of_workers_during_config_writes_keeps_config_valid",
           "CAMPAIGN_WORKER_KILLS", KILLS_TARGET, 8, "kills", r"^(\d+) workers killed"),
    Attack("concurrent adds across 4 workers: none lost",
           "tests/test_gunicorn.py::test_200_concurrent_stream_adds_all_land",
           "CAMPAIGN_CONCURRENT_ADDS", ADDS_TARGET, 200, "adds", r"^(\d+) concurrent adds"),
)
TARGETS = {"paths": PATHS_TARGET, "kills": KILLS_TARGET, "adds": ADDS_TARGET}


def run(attack: Attack, quick: bool) -> tuple[list[Row], dict]:
    """Run one attack's tests; its rows (count, time) and the raw figures."""
    env = {**os.environ, attack.knob: str(attack.quick if quick else attack.full),
           "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", "")}
    command = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
               *attack.test.split()]
    started = time.monotonic()
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    lines = [line for line in done.stdout.splitlines()
             if re.match(attack.counted, line) or line.startswith(("E ", "FAILED"))
             or re.search(r"\d+ (passed|failed)", line)]
    print("\n".join(lines), flush=True)
    count = sum(int(m.group(1)) for line in done.stdout.splitlines()
                if (m := re.match(attack.counted, line)))
    target = attack.quick * attack.tests if quick else TARGETS[attack.unit]
    passed = done.returncode == 0
    rows = [Row(f"campaign: {attack.name}", count, None, attack.unit,
                f">= {target:,}, all assertions hold", passed and count >= target),
            Row(f"campaign: time for {count:,} {attack.unit}", seconds, None, "s",
                "(informative)", True)]
    return rows, {"name": attack.name, "count": count, "seconds": round(seconds, 1),
                  "passed": passed, "summary": lines}


def main(argv: list[str] | None = None) -> list[Row]:
    """Run the scaled campaign (or today's CI counts with --quick); the result rows."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="today's CI counts")
    args = parser.parse_args(argv)
    rows, raw = [], []
    for attack in ATTACKS:
        print(f"-- {attack.name}", flush=True)
        attack_rows, figures = run(attack, args.quick)
        rows += attack_rows
        raw.append(figures)
    print_table(rows)
    save("campaign", rows, {"quick": args.quick, "attacks": raw})
    return rows


if __name__ == "__main__":
    main()
