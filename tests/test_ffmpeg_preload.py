"""Choosing which of ffmpeg's libraries load first: cheaper start-ups, the same symbol bindings."""
from __future__ import annotations

import os
import subprocess

import pytest

from recorder import ffmpeg_preload as fp
from recorder import processes
from recorder.processes import ProcessRunner

LIB = "/lib/x86_64-linux-gnu/"


def trace_text(order: list[str], bound: list[tuple[str, str, str]]) -> str:
    """An LD_DEBUG=scopes,bindings trace: the search order, then (referrer, symbol, definer) lines."""
    lines = ["     7:\t", "     7:\tInitial object scopes", "     7:\tobject=ffmpeg [0]",
             "     7:\t scope 0: " + " ".join(order), "     7:\t"]
    lines += [f"     7:\tbinding file {src} [0] to {dst} [0]: normal symbol `{sym}' [V_1]"
              for src, sym, dst in bound]
    return "\n".join(lines) + "\n"


# ffmpeg, then ten libraries; the deep one (libdeep, 10th) binds 40 symbols to
# itself, every other lookup lands in libc (1st, already in front).
ORDER = ["ffmpeg", LIB + "libc.so.6", LIB + "libavcodec.so"] + [
    LIB + f"libfiller{i}.so" for i in range(7)] + [LIB + "libdeep.so"]
DEEP = [(LIB + "libdeep.so", f"deep_{i}", LIB + "libdeep.so") for i in range(40)]
LIBC = [(LIB + "libavcodec.so", f"c_{i}", LIB + "libc.so.6") for i in range(40)]


def test_the_search_order_and_every_binding_are_read_from_the_loaders_trace() -> None:
    text = trace_text(ORDER, DEEP[:2] + LIBC[:1])
    assert fp.search_order(text) == ORDER
    assert fp.bindings(text) == {(LIB + "libdeep.so", "deep_0", "[V_1]", LIB + "libdeep.so"): 1,
                                 (LIB + "libdeep.so", "deep_1", "[V_1]", LIB + "libdeep.so"): 1,
                                 (LIB + "libavcodec.so", "c_0", "[V_1]", LIB + "libc.so.6"): 1}
    assert fp.search_order("no scopes here") == []


def test_only_a_deep_library_with_many_lookups_is_worth_loading_first() -> None:
    bound = fp.bindings(trace_text(ORDER, DEEP + LIBC))
    # libdeep: 40 lookups x position 10 = 400 checks > 80 lookups in all: moved.
    # libc: 40 x 1 = 40, not more than 80: stays. ffmpeg itself never moves.
    assert fp.choose(ORDER, bound) == (LIB + "libdeep.so",)
    few = fp.bindings(trace_text(ORDER, DEEP[:4] + LIBC))
    assert fp.choose(ORDER, few) == ()  # 4 x 10 = 40 < 44 lookups


def test_the_preload_is_kept_when_every_binding_stays_the_same() -> None:
    text = trace_text(ORDER, DEEP + LIBC)
    asked = []

    def tracer(preload: tuple[str, ...]) -> str:
        asked.append(preload)
        return text

    assert fp.plan(tracer) == (LIB + "libdeep.so",)
    assert asked == [(), (LIB + "libdeep.so",)]


def test_a_binding_that_would_move_brings_the_library_it_bound_to_forward_too() -> None:
    # frexp is in libm and libc; libm comes first. Loading libdeep first would load its
    # dependency libc early and bind frexp there, unless libm is loaded first as well.
    libm = LIB + "libm.so.6"
    order = ORDER[:1] + [libm] + ORDER[1:]
    frexp_libm = [(LIB + "libavcodec.so", "frexp", libm)]
    frexp_libc = [(LIB + "libavcodec.so", "frexp", LIB + "libc.so.6")]

    def tracer(preload: tuple[str, ...]) -> str:
        moved = preload and libm not in preload
        return trace_text(order, DEEP + LIBC + (frexp_libc if moved else frexp_libm))

    assert fp.plan(tracer) == (libm, LIB + "libdeep.so")


def test_a_trace_that_fails_while_checking_means_no_preload() -> None:
    # An empty trace (ffmpeg crashed, timed out) must not read as "every binding moved".
    good = trace_text(ORDER, DEEP + LIBC)
    assert fp.plan(lambda preload: "" if preload else good) == ()


def test_no_preload_when_a_library_path_could_not_be_written_in_ld_preload() -> None:
    odd = ORDER[:-1] + ["/opt/odd:dir/libdeep.so"]
    deep = [("/opt/odd:dir/libdeep.so", f"deep_{i}", "/opt/odd:dir/libdeep.so") for i in range(40)]
    assert fp.plan(lambda preload: trace_text(odd, deep + LIBC)) == ()
    spaced = trace_text(ORDER, DEEP + LIBC) + (
        "     7:\tbinding file /opt/my libs/libx.so [0] to /lib/libc.so.6 [0]: normal symbol `f'\n")
    assert fp.plan(lambda preload: spaced) == ()


def test_a_binding_only_the_preloaded_run_has_is_a_change_too() -> None:
    extra = [(LIB + "libavcodec.so", "only_with_preload", LIB + "libc.so.6")]
    def tracer(preload: tuple[str, ...]) -> str:
        return trace_text(ORDER, DEEP + LIBC + (extra if preload else []))

    assert fp.plan(tracer) == ()


def test_no_preload_when_the_bindings_cannot_be_kept_or_nothing_could_be_traced() -> None:
    def tracer(preload: tuple[str, ...]) -> str:
        # With any preload, the deep library's own symbols bind elsewhere: no fix exists.
        target = ORDER[0] if preload else LIB + "libdeep.so"
        return trace_text(ORDER, [(s, sym, target) for s, sym, _ in DEEP] + LIBC)

    assert fp.plan(tracer) == ()
    assert fp.plan(lambda preload: "") == ()


def test_an_ld_preload_of_the_operators_own_is_left_alone(monkeypatch) -> None:
    monkeypatch.setenv("LD_PRELOAD", "/usr/lib/libsomething.so")
    monkeypatch.setattr(fp, "trace_ffmpeg", lambda *args: pytest.fail("traced anyway"))
    assert fp.find_preload() == ()


@pytest.mark.parametrize("answer", ["", "not json", '["relative/libc.so.6"]', '[1]'])
def test_a_check_that_fails_or_answers_nonsense_means_no_preload(monkeypatch, answer) -> None:
    monkeypatch.delenv("LD_PRELOAD", raising=False)
    monkeypatch.setattr(fp.subprocess, "run", lambda *args, **kwargs: subprocess.CompletedProcess(
        args[0], 0, stdout=answer))
    assert fp.find_preload() == ()


def test_a_check_that_hangs_means_no_preload(monkeypatch) -> None:
    def hang(argv, **kwargs):
        raise subprocess.TimeoutExpired(argv, kwargs["timeout"])

    monkeypatch.delenv("LD_PRELOAD", raising=False)
    monkeypatch.setattr(fp.subprocess, "run", hang)
    assert fp.find_preload() == ()


def test_ffmpeg_alone_gets_the_preload(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("LD_PRELOAD", raising=False)
    script = tmp_path / "show.sh"
    script.write_text('#!/bin/sh\necho "preload=$LD_PRELOAD"\n')
    script.chmod(0o755)
    spawned = []
    real_popen = processes.subprocess.Popen

    def popen(argv, **kwargs):
        spawned.append((argv, kwargs))
        return real_popen(argv, **kwargs)

    monkeypatch.setattr(processes.subprocess, "Popen", popen)
    preload = (LIB + "libc.so.6", LIB + "libm.so.6")
    proc = ProcessRunner(preload=preload).spawn([str(script)])
    out, _ = proc.communicate(timeout=10)
    assert out.decode().strip() == f"preload={LIB}libc.so.6 {LIB}libm.so.6"
    argv, kwargs = spawned[-1]
    if processes.SETPRIV and processes.ENV:
        # setpriv runs first without it (it would load the libraries itself); env sets it
        # for the command alone.
        assert "env" not in kwargs
        assert argv[:3] == [processes.SETPRIV, "--pdeathsig", "KILL"]
        assert argv[3:6] == [processes.ENV, "LD_PRELOAD=" + " ".join(preload), str(script)]
    plain = ProcessRunner().spawn([str(script)])
    assert plain.communicate(timeout=10)[0].decode().strip() == "preload="
    assert "LD_PRELOAD" not in " ".join(spawned[-1][0])


def test_the_preload_is_dropped_when_ffmpeg_or_a_library_changes_after_the_check(
        tmp_path, monkeypatch, caplog) -> None:
    monkeypatch.delenv("LD_PRELOAD", raising=False)
    library = tmp_path / "libfake.so.1"
    library.write_bytes(b"\x7fELF old")
    clock = [100.0]
    monkeypatch.setattr(processes.time, "monotonic", lambda: clock[0])
    runner = ProcessRunner(preload=(str(library),))
    assert runner.current_preload() == (str(library),)
    library.unlink()
    library.write_bytes(b"\x7fELF new, after an upgrade")  # a new inode
    assert runner.current_preload() == (str(library),)  # not looked at again so soon
    clock[0] += processes.PRELOAD_RECHECK_SECONDS
    with caplog.at_level("WARNING"):
        assert runner.current_preload() == ()
    assert "changed since" in caplog.text
    assert runner.current_preload() == ()  # for good: the check is not run again


@pytest.mark.integration
def test_debians_ffmpeg_gets_a_preload_that_keeps_every_binding() -> None:
    chosen = fp.find_preload()
    assert chosen, "no library of ffmpeg found worth loading first"
    assert all(os.path.isabs(path) for path in chosen)
    # Checked again here, independently of plan()'s own check.
    plain = fp.bindings(fp.trace_ffmpeg("ffmpeg", ()))
    assert plain and fp.bindings(fp.trace_ffmpeg("ffmpeg", chosen)) == plain
    # And ffmpeg still works with it.
    env = {**os.environ, "LD_PRELOAD": " ".join(chosen)}
    done = subprocess.run(["ffmpeg", "-hide_banner", "-f", "lavfi", "-i", "testsrc=d=1",
                           "-f", "null", "-"], env=env, capture_output=True, check=False,
                          timeout=60)
    assert done.returncode == 0, done.stderr[-500:]
