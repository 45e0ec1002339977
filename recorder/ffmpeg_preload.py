"""Cheaper ffmpeg start-ups: which of ffmpeg's libraries the dynamic loader should load first.

Debian's ffmpeg links ~215 shared libraries, all bound at start (BIND_NOW).
Each of its ~42,000 symbol references is looked up library by library along
the loader's search order, and a library deep in that order that binds many
symbols to itself (libcrypto, libepoxy, liblapack, …) pays for every library
before it: ~3.7 million hash-filter checks per start, about 40 % of a start's
CPU. Loading those few libraries first (``LD_PRELOAD``) cuts the checks by
half. Only the search order changes, so the choice is kept only if every
symbol reference binds to the same library as without it, which is checked
with the loader's own trace (``LD_DEBUG=bindings``) when the recorder starts.
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable

from shared.clock import SYSTEM_CLOCK
from shared.file_cache import file_signature

log = logging.getLogger(__name__)

# A library moved to the front costs one more check for each lookup of every
# other library: worth it only when it saves more checks than that.
MAX_PRELOADED = 32
# Libraries brought forward to keep bindings come on top, up to this many in all.
MAX_WITH_KEPT_BINDINGS = 48
TRACE_TIMEOUT_SECONDS = 30.0
CHECK_TIMEOUT_SECONDS = 60.0
# How often the preloaded libraries and ffmpeg are looked at for an upgrade.
RECHECK_SECONDS = 10.0
# Name services glibc 2.34 and later have built in. Any other service of the
# hosts line is a library loaded (dlopen) at ffmpeg's first name lookup, after
# start: its symbol bindings are not in the start-up trace, so no preload then.
BUILT_IN_HOST_SERVICES = frozenset({"files", "dns"})
NSSWITCH_PATH = "/etc/nsswitch.conf"
# LD_PRELOAD is split on spaces and colons: a path with either cannot be listed.
_UNLISTABLE = re.compile(r"[\s:]")

_BINDING_RE = re.compile(r"binding file (\S+) \[\d+\] to (\S+) \[\d+\]: \w+ symbol `([^']*)'(.*)$")

# One traced start: the loader's trace (LD_DEBUG output) of ``ffmpeg -version``
# with these libraries preloaded ("" when it could not run).
Tracer = Callable[[tuple[str, ...]], str]


def search_order(trace: str) -> list[str]:
    """The global search order the loader used: the main program's scope 0."""
    lines = trace.splitlines()
    for i, line in enumerate(lines):
        if "Initial object scopes" in line:
            for scope in lines[i + 1:i + 4]:
                if " scope 0:" in scope:
                    return scope.split(" scope 0:", 1)[1].split()
    return []


def bindings(trace: str) -> Counter | None:
    """Every symbol reference, as (referencing library, symbol, version, defining library).

    None when a binding line cannot be read (a library path with a space): a
    binding that could not be compared cannot be said to stay the same.
    """
    found: Counter = Counter()
    for line in trace.splitlines():
        if "binding file " not in line:
            continue
        match = _BINDING_RE.search(line)
        if not match:
            return None
        source, target, symbol, version = match.groups()
        found[(source, symbol, version.strip(), target)] += 1
    return found


def choose(order: list[str], bound: Counter, limit: int = MAX_PRELOADED) -> tuple[str, ...]:
    """The libraries worth loading first, in their original order.

    A library at position p that defines n looked-up symbols costs about n × p
    checks where it is, about n at the front, and adds one check to each of
    the other lookups there: it is moved when n × p exceeds all lookups.
    """
    position = {path: index for index, path in enumerate(order)}
    lookups = sum(bound.values())
    per_library: Counter = Counter()
    for (_, _, _, target), count in bound.items():
        per_library[target] += count
    main = order[0] if order else ""
    worth = [(count * position[path], path) for path, count in per_library.items()
             if path in position and path != main and path.startswith("/")
             and count * position[path] > lookups]
    picked = [path for _, path in sorted(worth, reverse=True)[:limit]]
    return tuple(sorted(picked, key=position.__getitem__))


def plan(trace: Tracer, rounds: int = 6) -> tuple[str, ...]:
    """The preload to use, or () when none is worth it or it would change a binding.

    Loading a library early also loads its dependencies early, so a symbol two
    libraries define (``frexp`` in libm and libc) could bind elsewhere: the
    library it bound to before is then loaded first too, and the check runs
    again, a few rounds at most.
    """
    plain = trace(())
    order, bound = search_order(plain), bindings(plain)
    if not order or not bound or any(_UNLISTABLE.search(path) for path in order):
        return ()
    chosen = choose(order, bound)
    position = {path: index for index, path in enumerate(order)}
    for _ in range(rounds):
        if not chosen or len(chosen) > MAX_WITH_KEPT_BINDINGS:
            return ()
        preloaded = bindings(trace(chosen))
        if not preloaded:  # ffmpeg did not start with it, or its trace is unreadable
            return ()
        if preloaded == bound:
            return chosen
        moved = bound - preloaded
        keep_first = {target for (_, _, _, target) in moved
                      if target in position and position[target] > 0} - set(chosen)
        if not keep_first:  # nothing to bring forward, or only new bindings appeared
            break
        chosen = tuple(sorted({*chosen, *keep_first}, key=position.__getitem__))
    log.warning("ffmpeg start-up: no library order found that keeps every symbol binding; "
                "ffmpeg loads its libraries in its own order")
    return ()


def trace_ffmpeg(ffmpeg_binary: str, preload: tuple[str, ...]) -> str:
    """The loader's trace of one ``ffmpeg -version`` start ("" when it did not run well).

    LD_BIND_NOW makes the loader bind every reference at start, also those of
    libraries that would bind a function only when it is first called, so the
    trace covers what a recording calls later too.
    """
    path = shutil.which(ffmpeg_binary)
    if path is None:
        return ""
    with tempfile.TemporaryDirectory(prefix="ffmpeg-preload-") as folder:
        env = {**os.environ, "LD_DEBUG": "scopes,bindings", "LD_BIND_NOW": "1",
               "LD_DEBUG_OUTPUT": os.path.join(folder, "trace")}
        if preload:
            env["LD_PRELOAD"] = " ".join(preload)
        try:
            done = subprocess.run([path, "-version"], stdin=subprocess.DEVNULL,
                                  capture_output=True, env=env, timeout=TRACE_TIMEOUT_SECONDS,
                                  check=False)
        except (OSError, subprocess.TimeoutExpired):
            return ""
        if done.returncode != 0 or not done.stdout.startswith(b"ffmpeg version") or done.stderr:
            return ""  # it must also start and run as well as without the preload
        texts = []
        for name in sorted(os.listdir(folder)):  # one file per process: trace.<pid>
            with open(os.path.join(folder, name), encoding="utf-8", errors="replace") as handle:
                texts.append(handle.read())
        return "".join(texts)


def late_host_services(nsswitch: str, glibc_version: str) -> list[str]:
    """The services of nsswitch.conf's hosts line that are libraries loaded at the first lookup.

    ``glibc_version``: ``os.confstr("CS_GNU_LIBC_VERSION")``, e.g. ``glibc 2.36``.
    """
    try:
        built_in = BUILT_IN_HOST_SERVICES if tuple(
            int(part) for part in glibc_version.split()[-1].split(".")[:2]) >= (2, 34) else set()
    except (IndexError, ValueError):
        built_in = set()
    for line in nsswitch.splitlines():
        if line.split("#", 1)[0].strip().startswith("hosts:"):
            services = line.split("#", 1)[0].split(":", 1)[1].split()
            return [name for name in services if not name.startswith("[")
                    and name not in built_in]
    return []  # no hosts line (or no file): glibc's default, "dns files"


def _late_host_services() -> list[str]:
    try:
        with open(NSSWITCH_PATH, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError:
        text = ""
    return late_host_services(text, os.confstr("CS_GNU_LIBC_VERSION") or "")


def find_preload(ffmpeg_binary: str = "ffmpeg") -> tuple[str, ...]:
    """The libraries to preload into every recording's ffmpeg (checked now; () if none).

    The check runs in a Python process of its own: the traces it reads take
    ~20 MB that the recorder would otherwise keep for its whole life. An
    LD_PRELOAD of the operator's own is left as it is, and none is added; none
    either where a name service would load after start (:func:`late_host_services`).
    """
    if os.environ.get("LD_PRELOAD"):
        log.info("ffmpeg start-up: LD_PRELOAD is set already; the library order is left alone")
        return ()
    late = _late_host_services()
    if late:
        log.info("ffmpeg start-up: name services %s (%s) load after the check could see them; "
                 "the library order is left alone", " ".join(late), NSSWITCH_PATH)
        return ()
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (package_parent, os.environ.get("PYTHONPATH", "")) if p)}
    try:
        done = subprocess.run([sys.executable, "-m", __name__, ffmpeg_binary],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, env=env,
                              text=True, timeout=CHECK_TIMEOUT_SECONDS, check=False)
        chosen = tuple(json.loads(done.stdout))
    except (OSError, subprocess.TimeoutExpired, ValueError) as exc:
        log.warning("ffmpeg start-up: the check of its library order failed (%s); ffmpeg "
                    "loads its libraries in its own order", exc)
        return ()
    if not all(isinstance(path, str) and os.path.isabs(path) for path in chosen):
        log.warning("ffmpeg start-up: the check of its library order answered %r; not used",
                    done.stdout[:200])
        return ()
    if chosen:
        log.info("ffmpeg start-up: %d of its libraries load first (same symbol bindings, "
                 "checked): %s", len(chosen), " ".join(os.path.basename(p) for p in chosen))
    return chosen


class LibraryPreload:
    """The preload of every recording's ffmpeg, and when it stops being valid.

    The check holds for the files it looked at: an upgrade of ffmpeg or of one
    of the libraries voids it (a removed path would also make the loader
    complain on ffmpeg's stderr at every start), and the preload is then
    dropped until the recorder restarts. ``clock`` is the monotonic time.
    """

    def __init__(self, libraries: tuple[str, ...], ffmpeg_binary: str = "ffmpeg",
                 clock: Callable[[], float] = SYSTEM_CLOCK.monotonic) -> None:
        self._libraries = libraries
        self._basis = (*libraries, shutil.which(ffmpeg_binary) or ffmpeg_binary) if libraries else ()
        self._signature = _signatures(self._basis)
        self._clock = clock
        self._checked = clock()

    def libraries(self) -> tuple[str, ...]:
        """The libraries to preload now; () for good once what they were checked against changed."""
        now = self._clock()
        if self._libraries and now - self._checked >= RECHECK_SECONDS:
            self._checked = now
            if _signatures(self._basis) != self._signature:
                log.warning("ffmpeg start-up: ffmpeg or a library it loads first changed since "
                            "the check; ffmpeg loads its libraries in its own order until the "
                            "recorder restarts")
                self._libraries = ()
        return self._libraries


def _signatures(paths: tuple[str, ...]) -> tuple:
    """Each file's version (see shared.file_cache.file_signature): changes when one is replaced."""
    return tuple(file_signature(path) for path in paths)


def main(argv: list[str]) -> int:
    """The check itself: print the preload for ``argv[0]`` (ffmpeg) as a JSON list."""
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    binary = argv[0] if argv else "ffmpeg"
    print(json.dumps(list(plan(lambda preload: trace_ffmpeg(binary, preload)))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
