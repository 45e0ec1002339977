"""The Redis clients of cluster mode (the recorder's, the workers' and the API's). Imports
``redis`` only when called: it comes with the [cluster] extra."""
from __future__ import annotations

import functools


@functools.cache
def _driver_info():
    """What every connection tells Redis about its library (CLIENT SETINFO), found once.

    redis-py 7.2+ otherwise looks its own version up in the installed packages' metadata at
    each new connection: 0.3 ms of CPU, 1.5 ms the first time in a process, which a worker
    forked by the pool paid in its first job. None on an older redis-py, which found it once
    at its import.
    """
    try:
        from redis import DriverInfo
    except ImportError:
        return None
    return DriverInfo()


def redis_client(url: str, timeout_seconds: float, **options):
    """A client of the Redis at ``url`` that gives up on a silent server after
    ``timeout_seconds`` (connecting or waiting for an answer)."""
    from redis import Redis
    info = _driver_info()
    if info is not None:
        options["driver_info"] = info
    return Redis.from_url(url, socket_timeout=timeout_seconds,
                          socket_connect_timeout=timeout_seconds, **options)
