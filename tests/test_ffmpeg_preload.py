"""Choosing which of ffmpeg's libraries load first: cheaper start-ups, the same symbol bindings."""
from __future__ import annotations

import os
import subprocess

import pytest

from recorder import ffmpeg_preload as fp
from recorder.ffmpeg_command import build_argv

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


def test_the_preload_is_dropped_when_ffmpeg_or_a_library_changes_after_the_check(
        tmp_path, caplog) -> None:
    library = tmp_path / "libfake.so.1"
    library.write_bytes(b"\x7fELF old")
    clock = [100.0]
    preload = fp.LibraryPreload((str(library),), clock=lambda: clock[0])
    assert preload.libraries() == (str(library),)
    library.unlink()
    library.write_bytes(b"\x7fELF new, after an upgrade")  # a new inode
    assert preload.libraries() == (str(library),)  # not looked at again so soon
    clock[0] += fp.RECHECK_SECONDS
    with caplog.at_level("WARNING"):
        assert preload.libraries() == ()
    assert "changed since" in caplog.text
    assert preload.libraries() == ()  # for good: the check is not run again


def test_an_unchanged_preload_stays() -> None:
    clock = [0.0]
    preload = fp.LibraryPreload((LIB + "libc.so.6",), clock=lambda: clock[0])
    clock[0] += 5 * fp.RECHECK_SECONDS
    assert preload.libraries() == (LIB + "libc.so.6",)


@pytest.mark.parametrize("hosts,glibc,late", [
    ("hosts:          files dns", "glibc 2.36", []),
    ("hosts: files mdns4_minimal [NOTFOUND=return] dns myhostname # desktop", "glibc 2.36",
     ["mdns4_minimal", "myhostname"]),
    ("hosts: files resolve [!UNAVAIL=return] dns", "glibc 2.36", ["resolve"]),
    ("hosts: files dns", "glibc 2.31", ["files", "dns"]),  # separate libraries before 2.34
    ("# hosts: mdns\npasswd: files systemd", "glibc 2.36", []),  # glibc's default: built in
])
def test_name_services_loaded_at_the_first_lookup_are_found(hosts, glibc, late) -> None:
    assert fp.late_host_services(hosts + "\n", glibc) == late


def test_no_preload_where_a_name_service_would_load_after_the_check(
        tmp_path, monkeypatch) -> None:
    nsswitch = tmp_path / "nsswitch.conf"
    nsswitch.write_text("hosts: files myhostname dns\n")
    monkeypatch.delenv("LD_PRELOAD", raising=False)
    monkeypatch.setattr(fp, "NSSWITCH_PATH", str(nsswitch))
    monkeypatch.setattr(fp.subprocess, "run", lambda *args, **kwargs: pytest.fail("checked"))
    assert fp.find_preload() == ()


def libraries_loaded_after_start(trace: str) -> list[str]:
    """The libraries an LD_DEBUG=files trace shows loaded after control passed to the program."""
    lines = trace.splitlines()
    start = next(i for i, line in enumerate(lines) if "transferring control:" in line)
    return [line.split("file=", 1)[1].split()[0] for line in lines[start:]
            if "file=" in line and ("dynamically loaded by" in line or "needed by" in line)]


def test_a_library_loaded_after_start_is_seen_in_the_trace() -> None:
    # What `LD_DEBUG=files getent ahosts localhost` prints: getent asks for IDN, and
    # libc loads libidn2 at the lookup.
    trace = "\n".join([
        "     9:\tfile=libc.so.6 [0];  needed by getent [0]",
        "     9:\tfile=libdl.so [0];  dynamically loaded by getent [0]",
        "     9:\ttransferring control: getent",
        "     9:\tfile=libidn2.so.0 [0];  dynamically loaded by /lib/libc.so.6 [0]",
        "     9:\tfile=libunistring.so.2 [0];  needed by /lib/libidn2.so.0 [0]"])
    assert libraries_loaded_after_start(trace) == ["libidn2.so.0", "libunistring.so.2"]


@pytest.mark.integration
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_recording_loads_no_library_after_ffmpegs_start(tmp_path, camera_server, host) -> None:
    # The preload check sees the libraries loaded at start; one loaded later (a
    # name service at the first lookup of "localhost", a codec) would escape it.
    url = camera_server.url("cam1").replace("127.0.0.1", host, 1)
    assert host in url
    argv = build_argv(url, str(tmp_path / "clip.mp4"), 2, io_timeout=10)
    env = {**os.environ, "LD_DEBUG": "files", "LD_DEBUG_OUTPUT": str(tmp_path / "trace")}
    done = subprocess.run(argv, env=env, capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-500:]
    traces = [p for p in tmp_path.iterdir() if p.name.startswith("trace.")]
    assert len(traces) == 1  # ffmpeg alone, no helper process
    trace = traces[0].read_text(encoding="utf-8", errors="replace")
    assert "transferring control: ffmpeg" in trace
    assert libraries_loaded_after_start(trace) == []


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
