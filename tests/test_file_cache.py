"""The per-process cache of parsed files, and the answers built from it."""
from __future__ import annotations

import os

from shared.output_tree import listing
from shared.atomic import read_json, write_json_atomic
from shared.file_cache import FileCache, file_signature
from shared.output_tree import OutputDir, ScanCache, opened_root


def test_unchanged_file_is_parsed_once(tmp_path) -> None:
    path = str(tmp_path / "status.json")
    write_json_atomic(path, {"n": 1})
    calls = []
    cache = FileCache()

    def load(p: str) -> dict:
        calls.append(p)
        return read_json(p)

    assert cache.get(path, load) == {"n": 1}
    assert cache.get(path, load) == {"n": 1}
    assert len(calls) == 1


def test_atomic_rewrite_with_same_size_and_mtime_is_seen(tmp_path) -> None:
    path = str(tmp_path / "status.json")
    write_json_atomic(path, {"n": 1})
    cache = FileCache()
    assert cache.get(path, read_json) == {"n": 1}
    stamp = os.stat(path).st_mtime_ns
    write_json_atomic(path, {"n": 2})  # same size; a new inode
    os.utime(path, ns=(stamp, stamp))
    assert cache.get(path, read_json) == {"n": 2}


def test_missing_file_is_never_served_from_cache(tmp_path) -> None:
    path = str(tmp_path / "gone.json")
    cache = FileCache()
    values = iter([1, 2])
    assert cache.get(path, lambda p: next(values)) == 1
    assert cache.get(path, lambda p: next(values)) == 2


def test_tasks_answer_follows_each_status_write(client, write_status) -> None:
    write_status(tasks=[{"task_id": 0, "stream_index": 0, "status": 3}])
    assert client.get("/api/tasks/status").get_json()["tasks"][0]["status"] == 3
    write_status(tasks=[{"task_id": 0, "stream_index": 0, "status": 4}])
    body = client.get("/api/tasks").get_json()
    assert body["tasks"][0]["status"] == 4 and body["count"] == 1


def test_health_reads_nothing_and_answers(client) -> None:
    response = client.get("/api/health")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_the_clip_list_cache_takes_its_clock_as_a_seam(tmp_path, monkeypatch) -> None:
    folder = tmp_path / "20250101_000000"
    folder.mkdir()
    (folder / "cam1.mp4").write_bytes(b"x")
    changed = folder.stat().st_mtime
    now = [changed + ScanCache.SETTLE_SECONDS / 2]  # the folder changed a moment ago
    cache = ScanCache(clock=lambda: now[0])
    scans = []
    real_scan = listing._scan_cycle
    monkeypatch.setattr(listing, "_scan_cycle",
                        lambda root, cycle: scans.append(cycle) or real_scan(root, cycle))
    with opened_root(OutputDir(".", str(tmp_path))) as root:
        assert cache.files(root, folder.name) == cache.files(root, folder.name)
        assert len(scans) == 2  # not settled by the fake clock: read every time
        now[0] = changed + ScanCache.SETTLE_SECONDS * 2
        for _ in range(3):
            assert [name for name, _, _ in cache.files(root, folder.name)] == ["cam1.mp4"]
        assert len(scans) == 3  # settled: read once more, then served from the cache


def test_a_mode_change_is_a_new_version(tmp_path) -> None:
    # chmod 000, then 644: no content changed, but a reader that failed must look again.
    path = str(tmp_path / "config.json")
    write_json_atomic(path, {"n": 1})
    before = file_signature(path)
    os.chmod(path, 0)
    assert file_signature(path) != before


def test_a_report_summary_is_read_from_its_head_and_reparsed_only_when_replaced(tmp_path) -> None:
    from shared import cycle_summary
    folder = tmp_path / "out" / "20251010_163000"
    folder.mkdir(parents=True)
    report = str(folder / "r.json")
    # A damaged tail after the summary: only the head is parsed.
    tasks = ", ".join('{"x": "%s"}' % ("y" * 100) for _ in range(2000))
    with open(report, "w", encoding="utf-8") as handle:
        handle.write('{\n  "summary": {"completed_tasks": 3, "note": "中文"},\n  "tasks": [' + tasks)
    out = OutputDir("./out", str(tmp_path / "out"))
    first = cycle_summary.read_summary(out, "20251010_163000", "r.json")
    assert first == {"completed_tasks": 3, "note": "中文"}
    assert cycle_summary.read_summary(out, "20251010_163000", "r.json") is first  # cached
    write_json_atomic(report, {"tasks": [], "summary": {"completed_tasks": 4}})  # summary last
    assert cycle_summary.read_summary(out, "20251010_163000", "r.json") == {"completed_tasks": 4}
    assert cycle_summary.read_summary(out, "20251010_163000", "missing.json") is None
    write_json_atomic(report, ["not", "a", "report"])
    assert cycle_summary.read_summary(out, "20251010_163000", "r.json") is None


def test_a_bounded_cache_starts_over_when_full() -> None:
    cache = FileCache(max_entries=2)
    loads = []
    for key in ("a", "b", "c", "a"):
        cache.get_version(key, (1,), lambda key=key: loads.append(key) or key)
    assert loads == ["a", "b", "c", "a"]  # "c" cleared the full cache, so "a" was loaded again
    assert cache.get_version("c", (1,), lambda: "reloaded") == "c"
