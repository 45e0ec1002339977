"""A cluster section removed, or its queue renamed, by an edit between cycles: the recorder gives
up the lock of the queue it leaves at once and logs what to do on the other hosts (an operator
who removed the section from one recorder's config had two coordinators, with no word)."""
from __future__ import annotations

import logging

import pytest

from recorder import daemon as daemon_module
from recorder.daemon import Daemon
from shared.atomic import write_json_atomic


@pytest.fixture
def daemon(tmp_path):
    config = str(tmp_path / "config.json")
    write_json_atomic(config, {"global_config": {"min_free_space_mb": 0}, "streams": [
        {"rtsp_url": "rtsp://127.0.0.1:5/gate", "duration_seconds": 5}]})
    return Daemon(config)


@pytest.mark.parametrize(("queues", "released", "said"), [
    (["patrol", "patrol", ""], 1, "the cluster section is gone"),
    (["patrol", "east"], 1, "the cluster's queue is east now, not patrol: restart every worker"),
    (["", "patrol", "patrol"], 0, None),  # added: applies from the next cycle, nothing to say
    (["", ""], 0, None),
])
def test_a_queue_left_is_released_and_said(daemon, monkeypatch, caplog, queues, released,
                                            said) -> None:
    seen = iter(queues)
    monkeypatch.setattr(daemon_module, "cluster_queue", lambda _config: next(seen))
    calls = []
    monkeypatch.setattr(daemon.launcher, "release_lead", calls.append)
    with caplog.at_level(logging.WARNING, logger="recorder.daemon"):
        for _ in queues:
            daemon._follow_mode_change()
    assert calls == ["patrol"] * released  # the queue left only
    assert (said in caplog.text) if said else caplog.text == ""


def test_a_queue_left_gives_up_its_own_lock_only() -> None:
    # The new queue's lock may be held already (its first cycle began in the step the edit
    # took effect): giving it up too would let a standby take that cycle over as dead.
    from recorder.cluster.lead import Lead

    class Held:
        def __init__(self) -> None:
            self.held = True

        def release(self) -> None:
            self.held = False

    lead = Lead.__new__(Lead)
    old, new = Held(), Held()
    lead._locks = {("redis://127.0.0.1:1/0", "patrol"): old, ("redis://127.0.0.1:1/0", "east"): new}
    lead.release("patrol")
    assert (old.held, new.held) == (False, True)
    lead.release()  # a clean stop: every one
    assert not new.held
