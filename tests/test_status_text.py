"""The status file's encoder (recorder/status_text.py): the same text as compact_json, each
record's text made again only when its task gave a new record."""
from __future__ import annotations

import json

from recorder.status_text import StatusText
from shared.atomic import compact_json


def record(task_id: int, status: int = 1, name: str = "等待中") -> dict:
    return {"task_id": task_id, "status": status, "status_name": name, "progress": 0.5,
            "quality": {"checked": False, "issues": [], "measures": {}}}


def status_of(tasks: list[dict]) -> dict:
    return {"pid": 1, "message": "tasks-x \"[]\"", "tasks": tasks, "stats": {"total": len(tasks)}}


def test_the_text_is_compact_json_of_the_status_with_its_keys_in_order() -> None:
    tasks = [record(i) for i in range(3)]
    encoder = StatusText()
    for status in (status_of(tasks), status_of([]), {"tasks": None}, {"pid": 2}):
        text = encoder.encode(status)
        assert text == compact_json(status) and list(json.loads(text)) == list(status)


def test_a_record_is_encoded_again_only_when_it_is_a_new_object(monkeypatch) -> None:
    from recorder import status_text
    encoded = []
    monkeypatch.setattr(status_text, "compact_json",
                        lambda data: encoded.append(data) or compact_json(data))
    tasks = [record(i) for i in range(3)]
    encoder = StatusText()
    encoder.encode(status_of(tasks))
    assert sum(data in tasks for data in encoded) == 3
    encoded.clear()
    tasks[1] = record(1, 4, "已完成")  # its task changed: as_dict made a new record
    text = encoder.encode(status_of(tasks))
    assert [data for data in encoded if data in tasks] == [tasks[1]]
    assert text == compact_json(status_of(tasks))
    # Equal content but a new object: encoded again (identity, not equality, is the rule).
    encoded.clear()
    encoder.encode(status_of([dict(task) for task in tasks]))
    assert len([data for data in encoded if "task_id" in data]) == 3


def test_the_copy_for_redis_shares_the_records_text() -> None:
    from shared.cluster_status import mirrored
    tasks = [record(i) for i in range(3)]
    encoder = StatusText()
    status = {**status_of(tasks), "heartbeat_monotonic": 12.5}
    assert mirrored(status, encoder.encode) == mirrored(status)
    assert json.loads(mirrored(status, encoder.encode))["heartbeat_monotonic"] is None
