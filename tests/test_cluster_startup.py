"""What a worker host does once, not per job or per connection: RQ's date parsing set up before
the pool forks (recorder/worker.py), redis-py's version found once (shared/redis_client.py)."""
from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest

pytest.importorskip("rq")


def test_the_pool_sets_strptime_up_before_it_forks_its_workers():
    # a fresh interpreter: the test process has long set strptime up
    probe = ("import sys\n"
             "from recorder.worker import parse_args, prepare_before_fork\n"
             "from rq.utils import _TIMESTAMP_FORMAT\n"
             "before = '_strptime' in sys.modules\n"
             "prepare_before_fork(parse_args(['--config', 'c.json', '--ffmpeg-preload', 'off']))\n"
             "import _strptime\n"
             "print(before, _TIMESTAMP_FORMAT in _strptime._regex_cache)\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         timeout=60)
    assert out.stdout.split() == ["False", "True"], out.stderr


def test_a_new_connection_does_not_look_redis_pys_version_up_again(monkeypatch):
    import redis
    import redis.utils

    from shared.redis_client import redis_client
    client = redis_client("redis://127.0.0.1:1/0", 2)
    looked_up = []
    monkeypatch.setattr(redis.utils, "get_lib_version", lambda: looked_up.append(1) or "0")
    connections = [client.connection_pool.make_connection() for _ in range(3)]
    assert looked_up == []
    info = connections[0].driver_info
    assert (info.name, info.lib_version) == ("redis-py", redis.__version__)
    assert client.connection_pool.connection_kwargs["socket_timeout"] == 2


def test_the_log_level_goes_to_our_lines_and_to_rqs_workers(tmp_path, monkeypatch):
    import recorder.cluster.pool as pool_module
    from recorder import worker
    started, levels = [], []

    class Pool:
        def __init__(self, *args, **named) -> None:
            pass

        def start(self, **named) -> None:
            started.append(named)
    monkeypatch.setattr(pool_module, "PromptWorkerPool", Pool)
    monkeypatch.setattr(logging, "basicConfig", lambda **named: levels.append(named["level"]))
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"global_config": {}, "streams": [],
                                  "cluster": {"redis_url": "redis://127.0.0.1:1/0"}}))
    for argv, level in ([], "INFO"), (["--log-level", "WARNING"], "WARNING"):
        assert worker.main(["--config", str(config), "--ffmpeg-preload", "off", *argv]) == 0
        assert (started[-1], levels[-1]) == ({"burst": False, "logging_level": level}, level)
    with pytest.raises(SystemExit):
        worker.parse_args(["--config", str(config), "--log-level", "ERROR"])
