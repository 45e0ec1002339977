"""What a worker host does once, not per job or per connection: RQ's date parsing set up before
the pool forks (recorder/worker.py), redis-py's version found once (shared/redis_client.py)."""
from __future__ import annotations

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
