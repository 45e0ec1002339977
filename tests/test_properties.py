"""Property tests (hypothesis): client paths never reach outside a cycle's clips; configs round-trip.

Examples are generated from pieces that matter (``..``, ``%2e``, NUL, backslashes,
lone surrogates, full-width digits, absolute prefixes, the names of symlinks and
of things that are not regular files) mixed with arbitrary text. Counts stay
moderate (``MAX_EXAMPLES``) so the suite stays fast; ``python -m bench campaign``
runs them with $CAMPAIGN_EXAMPLES each (docs/RELIABILITY.md). The counters asserted
at the end of each test show the interesting branch was taken, not skipped.
"""
from __future__ import annotations

import copy
import math
import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from urllib.parse import quote

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from shared import config as model
from shared import config_edits
from shared.atomic import write_json_atomic
from shared.config_file import edit_config, load_config, replace_config
from shared.errors import ConfigError, NotFound, UnsafePath
from shared.output_rule import output_directory_problem
from shared.output_tree import OutputDir, delete_video, is_video_name, video_location
from shared.timefmt import is_cycle_name
from app import create_app
from tests.helpers import snapshot_files, valid_config

# The scaled campaign (bench/campaign.py) raises it through the environment.
MAX_EXAMPLES = int(os.environ.get("CAMPAIGN_EXAMPLES", "200"))
SETTINGS = settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
# Every code point, lone surrogates included (a JSON "\ud800" escape parses to one).
ANY_CHAR = st.characters(codec=None, categories=None)

# --- client paths ----------------------------------------------------------------------------

CYCLE = "20250101_120000"
LINKED_CYCLE = "20250102_000000"  # a symlink to a folder outside the output tree
CLIP = "clip.mp4"
SEGMENTS = st.one_of(
    st.sampled_from([
        "..", ".", "", "output", CYCLE, LINKED_CYCLE, f"{CYCLE}_01", CLIP, "x.MP4",
        "link.mp4", "hard.mp4", "fifo.mp4", "dir.mp4", ".hidden.mp4", "rtsp_report.json",
        "outside", "secret.mp4", "%2e%2e", "..%2f", "%2F", "\x00", "\\", "..\\..", "~",
        "２０２５０１０１_１２００００", f"{CYCLE}\n", f"{CLIP}\x00.txt", "\ud800.mp4",
        "20250101_1200001", "...", " ..", ".. ", f"{CLIP}/.",
    ]),
    st.text(ANY_CHAR, max_size=10),
)
# Placeholders, replaced by the example's real folders.
PREFIXES = st.sampled_from(["", "./", "/", "//", "<BASE>/", "<ROOT>/", "<OUTSIDE>/", "../",
                            "/etc/", "output/", "./output/", "<ROOT>/../output/"])
CYCLE_NAMES = st.one_of(st.sampled_from([CYCLE, LINKED_CYCLE, f"{CYCLE}_01"]),
                        st.from_regex(r"\A[0-9]{8}_[0-9]{6}(_[0-9]{2,4})?\Z"), SEGMENTS)
CLIP_NAMES = st.one_of(st.sampled_from([CLIP, "x.MP4", "link.mp4", "hard.mp4", "fifo.mp4",
                                        "dir.mp4", "a.mkv", "b.ts", "c.mov", "d.m4v"]),
                       st.text(ANY_CHAR, max_size=6).map(lambda text: text + ".mp4"), SEGMENTS)
CLIENT_PATHS = st.one_of(
    # Near the one accepted shape: [prefix]output/<cycle>/<clip>, with optional detours.
    st.builds(lambda prefix, cycle, clip, detour: f"{prefix}output/{detour}{cycle}/{clip}",
              st.sampled_from(["", "./", "<BASE>/", ".//", "<BASE>//", "<ROOT>/../"]),
              CYCLE_NAMES, CLIP_NAMES,
              st.sampled_from(["", "", "", "./", "../output/", f"{CYCLE}/../", "x/"])),
    st.builds(lambda prefix, parts: prefix + "/".join(parts), PREFIXES,
              st.lists(SEGMENTS, max_size=5)),
    st.text(ANY_CHAR, max_size=40),
)


def _tree(base: Path) -> OutputDir:
    """base/output with one real cycle (clips, and traps), a symlinked cycle, and an outside folder."""
    outside = base / "outside"
    (outside / CYCLE).mkdir(parents=True)
    for name in ("secret.mp4", "hard.mp4", f"{CYCLE}/{CLIP}"):
        (outside / name).write_bytes(b"outside")
    cycle = base / "output" / CYCLE
    cycle.mkdir(parents=True)
    for name in (CLIP, "x.MP4", ".hidden.mp4", "rtsp_report.json"):
        (cycle / name).write_bytes(b"ours")
    (cycle / "dir.mp4").mkdir()
    os.mkfifo(cycle / "fifo.mp4")
    os.symlink(outside / "secret.mp4", cycle / "link.mp4")
    os.link(outside / "hard.mp4", cycle / "hard.mp4")
    os.symlink(outside, base / "output" / LINKED_CYCLE)
    return OutputDir.from_spelling("./output", str(base))


def _spelled(path: str, base: Path) -> str:
    return (path.replace("<ROOT>", str(base / "output")).replace("<BASE>", str(base))
            .replace("<OUTSIDE>", str(base / "outside")))


def test_video_location_never_names_anything_but_a_clip_directly_in_a_cycle() -> None:
    outcomes: Counter = Counter()

    @SETTINGS
    @given(CLIENT_PATHS)
    @example(f"./output/{CYCLE}/{CLIP}")
    @example(f"output/{CYCLE}/../{CYCLE}/{CLIP}")
    @example(f"./output/{CYCLE}/%2e%2e/{CLIP}")
    @example(f"<ROOT>/{CYCLE}/{CLIP}")
    @example(f"<ROOT>/../outside/{CYCLE}/{CLIP}")
    @example(f"./output/{CYCLE}/\ud800.mp4")
    def check(raw: str) -> None:
        base = Path(tempfile.mkdtemp(prefix="paths-"))
        try:
            out = OutputDir.from_spelling("./output", str(base))
            path = _spelled(raw, base)
            try:
                cycle, name = video_location(out, path, str(base))
            except UnsafePath:
                outcomes["refused"] += 1
                return
            outcomes["accepted"] += 1
            assert is_cycle_name(cycle) and is_video_name(name)
            assert "/" not in name and "\x00" not in path and ".." not in path.split("/")
            # Exactly <root>/<cycle>/<clip>, whatever the spelling was.
            assert os.path.normpath(os.path.join(str(base), path)) == \
                os.path.join(out.root, cycle, name)
        finally:
            shutil.rmtree(base)

    check()
    print(f"\n{sum(outcomes.values())} paths: {dict(outcomes)}")
    assert outcomes["accepted"] >= 5 and outcomes["refused"] >= 50, outcomes


def test_deleting_a_client_path_removes_at_most_one_regular_clip_of_a_real_cycle() -> None:
    """The whole delete path (location, then delete) on a real tree with symlinks, a hard link, a FIFO."""
    outcomes: Counter = Counter()

    @SETTINGS
    @given(CLIENT_PATHS)
    @example(f"./output/{CYCLE}/{CLIP}")
    @example(f"./output/{CYCLE}/link.mp4")
    @example(f"./output/{CYCLE}/fifo.mp4")
    @example(f"./output/{CYCLE}/dir.mp4")
    @example(f"./output/{CYCLE}/hard.mp4")
    @example(f"./output/{LINKED_CYCLE}/secret.mp4")
    @example(f"./output/{LINKED_CYCLE}/{CYCLE}/{CLIP}")
    @example(f"<ROOT>/{CYCLE}/x.MP4")
    def check(raw: str) -> None:
        base = Path(tempfile.mkdtemp(prefix="delete-"))
        try:
            out = _tree(base)
            before = snapshot_files(base)
            path = _spelled(raw, base)
            try:
                cycle, name = video_location(out, path, str(base))
                delete_video(out, cycle, name)
            except (UnsafePath, NotFound):
                outcomes["refused"] += 1
                assert snapshot_files(base) == before
                return
            outcomes["deleted"] += 1
            after = snapshot_files(base)
            removed = set(before) - set(after)
            target = os.path.join(out.root, cycle, name)
            assert removed == {target} and set(after) <= set(before)
            assert all(after[key] == before[key] for key in after)
            # It was a regular file (not a link) in a real cycle folder (not a link).
            assert isinstance(before[target], bytes) and not os.path.islink(
                os.path.join(out.root, cycle))
            assert (base / "outside" / "secret.mp4").read_bytes() == b"outside"
            assert (base / "outside" / "hard.mp4").read_bytes() == b"outside"
        finally:
            shutil.rmtree(base)

    check()
    print(f"\n{sum(outcomes.values())} paths: {dict(outcomes)}")
    assert outcomes["deleted"] >= 3 and outcomes["refused"] >= 50, outcomes


def test_delete_video_over_the_api_never_escapes_and_never_answers_5xx() -> None:
    """``DELETE /api/video?path=…`` on the same tree: a 4xx that changes nothing, or one clip gone."""
    outcomes: Counter = Counter()
    base = Path(tempfile.mkdtemp(prefix="api-delete-"))
    write_json_atomic(str(base / "config.json"), valid_config())
    client = create_app({"CONFIG_PATH": str(base / "config.json"), "OUTPUT_DIR": "./output",
                         "OUTPUT_BASE": str(base)}).test_client()
    out = _tree(base)

    @SETTINGS
    @given(CLIENT_PATHS)
    @example(f"./output/{CYCLE}/{CLIP}")
    @example(f"output/{CYCLE}/{CLIP}")  # other spellings of it: three deletes at least
    @example(f"./output//{CYCLE}/./{CLIP}")
    @example(f"./output/{CYCLE}/fifo.mp4")
    @example(f"./output/{LINKED_CYCLE}/secret.mp4")
    @example(f"./output/{CYCLE}/\ud800.mp4")
    def check(raw: str) -> None:
        nonlocal out
        before = snapshot_files(base)
        # A lone surrogate goes out as the bytes a client could send (invalid UTF-8).
        sent = quote(_spelled(raw, base).encode("utf-8", "surrogatepass"), safe="")
        response = client.delete(f"/api/video?path={sent}")
        outcomes[response.status_code] += 1
        assert response.status_code < 500, (raw, response.get_data(as_text=True))
        after = snapshot_files(base)
        if response.status_code != 200:
            assert after == before
            return
        removed = set(before) - set(after)
        assert len(removed) == 1 and set(after) <= set(before)
        (target,) = removed
        cycle, name = os.path.split(os.path.relpath(target, out.root))
        assert is_cycle_name(cycle) and is_video_name(name) and isinstance(before[target], bytes)
        assert not os.path.islink(os.path.join(out.root, cycle))
        assert all(after[key] == before[key] for key in after)
        shutil.rmtree(base / "output")  # the next example gets the whole tree again
        shutil.rmtree(base / "outside")
        out = _tree(base)

    try:
        check()
    finally:
        shutil.rmtree(base)
    print(f"\n{sum(outcomes.values())} paths: {dict(outcomes)}")
    assert outcomes[200] >= 3 and outcomes[403] + outcomes[404] >= 50, outcomes


# --- configs ---------------------------------------------------------------------------------

NOT_INTEGERS = st.sampled_from([True, False, "5", 1.5, 2.0, None, [], {}, float("nan")])


def _integers(low: int, high: int):
    """Mostly in range, often just outside it, sometimes not an integer at all."""
    return st.one_of(st.integers(low, min(high, low + 1000)), st.integers(low - 3, low - 1),
                     st.integers(high + 1, high + 3), st.integers(), NOT_INTEGERS)


FILE_NAMES = st.one_of(
    st.sampled_from(["a.mp4", "cam 1.mkv", "摄像头.ts", "x.MOV", ".hidden.mp4", "a/b.mp4", "..",
                     "x.avi", ".mp4", "a\\b.mp4", "a\x01.mp4", "x" * 252 + ".mp4",
                     "é" * 126 + ".mp4", "\ud800.mp4", "report.txt", "r.json", "R.JSON",
                     ".json", "streams.csv"]),
    st.text(ANY_CHAR, max_size=12).map(lambda text: text + ".mp4"),
    st.text(ANY_CHAR, max_size=12),
    st.integers(),
)
URLS = st.one_of(
    st.builds(lambda scheme, cred, host, port, path: f"{scheme}://{cred}{host}{port}/{path}",
              st.sampled_from(["rtsp", "rtsps", "RTSP", "http", "rtsp:"]),
              st.sampled_from(["", "user:secret@", "u@", ":@", "a:b@c@"]),
              st.sampled_from(["127.0.0.1", "camera.local", "[::1]", "", "host name"]),
              st.sampled_from(["", ":554", ":0", ":65536", ":x"]),
              st.text(ANY_CHAR, max_size=10)),
    st.text(ANY_CHAR, max_size=20),
    NOT_INTEGERS,
)
OUTPUT_DIRECTORIES = st.one_of(
    st.sampled_from(["./output", "out", "./a/b", "/", "/etc/x", "/tmp", "..", ".", "", "  ",
                     "./.patrol-state/x", "/var/lib", "./out\x00", "./out\ud800", "~/x"]),
    st.text(ANY_CHAR, max_size=12).map(lambda text: "./" + text),
    NOT_INTEGERS,
)
GLOBAL_VALUES = {
    "total_poll_duration_seconds": _integers(1, 7 * model.DAY),
    "max_concurrent_streams": _integers(1, 1024),
    "output_directory": OUTPUT_DIRECTORIES,
    "report_filename": FILE_NAMES,
    "connection_timeout_seconds": _integers(1, 3600),
    "read_timeout_seconds": _integers(1, 3600),
    "poll_cycles": st.one_of(st.just(-1), st.just(0), _integers(1, 10**9)),
    "cycle_interval_seconds": _integers(0, 7 * model.DAY),
    "audio_mode": st.one_of(st.sampled_from([*model.AUDIO_MODES, "AUTO", ""]), NOT_INTEGERS),
    "retention_max_cycles": _integers(0, 10**9),
    "retention_max_hours": _integers(0, 100 * 365 * 24),
    "min_free_space_mb": _integers(0, 10**9),
    "rtsp_transport": st.one_of(st.sampled_from([*model.RTSP_TRANSPORTS, "TCP", "http"]),
                                NOT_INTEGERS),
    "max_concurrent_per_host": _integers(0, 1024),
    "offline_after_failures": _integers(1, 10**6),
    "history_retention_days": _integers(0, 100 * 365),
    "alerts": st.one_of(
        st.fixed_dictionaries({}, optional={
            "webhooks": st.lists(st.fixed_dictionaries(
                {"url": st.sampled_from(["http://127.0.0.1/x", "https://a", "ftp://a", "", 1])},
                optional={"secret": st.one_of(st.text(ANY_CHAR, max_size=4), NOT_INTEGERS),
                          "events": st.lists(st.sampled_from(["camera.offline", "x"]))}),
                max_size=2),
            "notify": st.lists(st.sampled_from(["dingtalk://t/", "mailto://a@b", "x", 2]),
                               max_size=2),
            "remind_every_hours": _integers(0, 10 * 365 * 24),
            "public_url": st.sampled_from(["https://p.example", "http://h:8080/a/", "ftp://h",
                                           "https://u@h", "http://h/?t=1", "", 3])}),
        NOT_INTEGERS),
    "quality": st.one_of(st.fixed_dictionaries({}, optional={
        "enabled": st.sampled_from([True, False, 1]), "blur_max": _integers(-1, 2000),
        "black_ratio": st.floats(allow_nan=True)}), NOT_INTEGERS),
}
assert set(GLOBAL_VALUES) == set(model.GLOBAL_RULES)
UNKNOWN_KEYS = st.dictionaries(st.text(ANY_CHAR, min_size=1, max_size=6), st.integers(),
                               max_size=1)
WEIGHTS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-2, 10**7),
                    NOT_INTEGERS)
STREAMS = st.builds(
    lambda required, optional, unknown: {**required, **optional, **unknown},
    st.fixed_dictionaries({"rtsp_url": URLS, "duration_seconds": _integers(1, model.DAY)}),
    st.fixed_dictionaries({}, optional={"weight": WEIGHTS, "output_filename": FILE_NAMES,
                                        "rtsp_transport": st.sampled_from(["auto", "udp", "x"]),
                                        "name": st.text(ANY_CHAR, max_size=70),
                                        "alerts": st.sampled_from([True, False, 0, "no"])}),
    st.one_of(st.just({}), st.just({}), st.just({}), UNKNOWN_KEYS),
)
GLOBALS = st.builds(lambda known, unknown: {**known, **unknown},
                    st.fixed_dictionaries({}, optional=GLOBAL_VALUES),
                    st.one_of(st.just({}), st.just({}), st.just({}), UNKNOWN_KEYS))
# In range, so that many whole configs pass (and so exercise the round trip).
GOOD_GLOBALS = st.fixed_dictionaries({}, optional={
    "total_poll_duration_seconds": st.integers(1, 7 * model.DAY),
    "max_concurrent_streams": st.integers(1, 1024),
    "output_directory": st.one_of(st.just("./output"),
                                  st.text(ANY_CHAR, min_size=1, max_size=8).map(lambda t: "./" + t)),
    "report_filename": st.text(ANY_CHAR, min_size=1, max_size=8).map(lambda t: t + ".json"),
    "poll_cycles": st.one_of(st.just(-1), st.integers(1, 10**9)),
    "cycle_interval_seconds": st.integers(0, 7 * model.DAY),
    "audio_mode": st.sampled_from(model.AUDIO_MODES),
    "retention_max_hours": st.integers(0, 100 * 365 * 24),
})
GOOD_STREAMS = st.fixed_dictionaries(
    {"rtsp_url": st.builds(lambda cred, path: f"rtsp://{cred}127.0.0.1:8554/{path}",
                           st.sampled_from(["", "user:secret@"]),
                           st.text(ANY_CHAR, max_size=10)),
     "duration_seconds": st.integers(1, model.DAY)},
    optional={"weight": st.floats(min_value=5e-324, max_value=1e6),
              "output_filename": st.text(ANY_CHAR, min_size=1, max_size=10)
              .map(lambda text: text + ".mkv")})
CONFIGS = st.one_of(
    st.fixed_dictionaries({"global_config": GLOBALS, "streams": st.lists(STREAMS, max_size=4)}),
    st.fixed_dictionaries({"global_config": GOOD_GLOBALS,
                           "streams": st.lists(GOOD_STREAMS, max_size=4)}),
    st.fixed_dictionaries({"global_config": st.one_of(GOOD_GLOBALS, GLOBALS),
                           "streams": st.lists(st.one_of(GOOD_STREAMS, STREAMS), max_size=4)}),
    st.fixed_dictionaries({}, optional={"global_config": GLOBALS, "streams": st.lists(STREAMS),
                                        "extra": st.integers()}),
    st.sampled_from([None, [], "config", 1, {"global_config": [], "streams": []},
                     {"global_config": {}, "streams": {}}]),
)


def _config_file() -> tuple[Path, str]:
    folder = Path(tempfile.mkdtemp(prefix="config-"))
    path = folder / "config.json"
    write_json_atomic(str(path), valid_config())
    return folder, str(path)


def _accepted_by_the_rules(data: object, path: str) -> dict | None:
    """What validate_config and the output_directory rule make of ``data`` (None: refused)."""
    try:
        config = model.validate_config(data)
    except ConfigError:
        return None
    if output_directory_problem(config["global_config"]["output_directory"], path):
        return None
    return config


def test_accepted_configs_round_trip_and_refused_ones_change_nothing() -> None:
    outcomes: Counter = Counter()

    @SETTINGS
    @given(CONFIGS)
    @example(valid_config())
    @example({**valid_config(), "streams": [{"rtsp_url": "rtsp://h/\ud800", "duration_seconds": 5}]})
    @example({"global_config": {"output_directory": "./out\ud800"}, "streams": []})
    @example({"global_config": {"\ud800": 1}, "streams": []})
    @example({"global_config": {}, "streams": [{"rtsp_url": "rtsp://h/x", "duration_seconds": 5,
                                                 "weight": 5e-324}]})
    def check(data: object) -> None:
        folder, path = _config_file()
        try:
            original = Path(path).read_bytes()
            given_data = copy.deepcopy(data)
            expected = _accepted_by_the_rules(data, path)
            try:
                written = replace_config(path, data)
            except ConfigError as exc:
                outcomes["refused"] += 1
                assert expected is None, exc.message
                assert Path(path).read_bytes() == original
                exc.message.encode("utf-8")  # printable in logs, answers and the status file
            else:
                outcomes["accepted"] += 1
                assert written == expected
                assert load_config(path) == written  # saved and loaded: unchanged
                assert model.validate_config(written) == written
                assert all(math.isfinite(s["weight"]) for s in written["streams"])
            assert _same(data, given_data), "the input was changed"
            assert set(os.listdir(folder)) <= {"config.json", "config.json.lock"}  # no temp file
        finally:
            shutil.rmtree(folder)

    check()
    print(f"\n{sum(outcomes.values())} paths: {dict(outcomes)}")
    assert outcomes["accepted"] >= 20 and outcomes["refused"] >= 50, outcomes


def _same(a: object, b: object) -> bool:
    # NaN != NaN: compare the repr, which is stable for these plain JSON-like values.
    return repr(a) == repr(b)


def test_partial_global_edits_round_trip_and_refused_ones_change_nothing() -> None:
    outcomes: Counter = Counter()

    @SETTINGS
    @given(st.one_of(GLOBALS, GOOD_GLOBALS))
    @example({"output_directory": "/"})
    @example({"poll_cycles": 0})
    def check(changes: dict) -> None:
        folder, path = _config_file()
        try:
            original = Path(path).read_bytes()
            candidate = copy.deepcopy(valid_config())
            candidate["global_config"].update(copy.deepcopy(changes))
            expected = _accepted_by_the_rules(candidate, path)
            try:
                written = edit_config(path, lambda config: config_edits.with_global_update(config, changes))
            except ConfigError:
                outcomes["refused"] += 1
                assert expected is None
                assert Path(path).read_bytes() == original
            else:
                outcomes["accepted"] += 1
                assert written == expected == load_config(path)
        finally:
            shutil.rmtree(folder)

    check()
    print(f"\n{sum(outcomes.values())} paths: {dict(outcomes)}")
    assert outcomes["accepted"] >= 10 and outcomes["refused"] >= 50, outcomes
