"""Who writes a cluster cycle's reports: its coordinator, or the recorder that took it over.

A coordinator cut off from Redis for longer than its lock lives (its host's network alone) is
taken over by a standby, which reports the cycle it left (recorder/cluster/takeover.py). Back,
the coordinator must not report the same cycle again, nor the standby one the coordinator is
reporting. So each cycle has a claim in Redis: its coordinator marks it ``running`` when it
starts it; at its end the coordinator turns its own ``running`` (or no claim: a Redis that lost
its data) into ``reported``, and a takeover turns anything but ``reported`` into ``taken``. Each
is one atomic step: whichever comes first writes the reports, the other leaves them.

A coordinator that stops cleanly mid-cycle reports it interrupted and marks it ``left``: the
recorder that takes over next settles it again with the outcomes its workers stored since.
"""
from __future__ import annotations

from redis import Redis

from recorder.cluster.link import PREFIX

# A claim outlives its cycle's window by far: a coordinator cut off for days still finds it.
CLAIM_TTL_SECONDS = 7 * 24 * 3600
RUNNING, REPORTED, TAKEN, LEFT = "running", "reported", "taken", "left"

# Its coordinator at the cycle's end: 1 when the reports are its to write.
_REPORT_SCRIPT = """
local claim = redis.call('GET', KEYS[1])
if not claim or claim == 'running:' .. ARGV[1] or claim == 'reported:' .. ARGV[1] then
    redis.call('SET', KEYS[1], 'reported:' .. ARGV[1], 'EX', ARGV[2])
    return 1
end
return 0
"""
# A takeover: 1 when the cycle is the taker's to report.
_TAKE_SCRIPT = """
local claim = redis.call('GET', KEYS[1])
if claim and string.sub(claim, 1, 9) == 'reported:' then
    return 0
end
redis.call('SET', KEYS[1], 'taken:' .. ARGV[1], 'EX', ARGV[2])
return 1
"""


def claim_key(queue: str, cycle_name: str) -> str:
    """The claim on the reports of ``cycle_name``."""
    return f"{PREFIX}:{queue}:reporter:{cycle_name}"


def mark(connection: Redis, queue: str, cycle_name: str, state: str, owner: str) -> None:
    """Set the claim of ``cycle_name`` to ``state`` (RUNNING at its start, LEFT after an
    interrupted report) by ``owner``, whatever it was."""
    connection.set(claim_key(queue, cycle_name), f"{state}:{owner}", ex=CLAIM_TTL_SECONDS)


def claim_report(connection: Redis, queue: str, cycle_name: str, owner: str) -> bool:
    """Its coordinator ``owner``, at the end of ``cycle_name``: True when the reports are its to
    write; False when a takeover has the cycle."""
    return bool(connection.eval(_REPORT_SCRIPT, 1, claim_key(queue, cycle_name), owner,
                                CLAIM_TTL_SECONDS))


def claim_takeover(connection: Redis, queue: str, cycle_name: str, owner: str) -> bool:
    """A recorder ``owner`` taking ``cycle_name`` over: True when it is its to report; False
    when its coordinator is reporting it (it came back)."""
    return bool(connection.eval(_TAKE_SCRIPT, 1, claim_key(queue, cycle_name), owner,
                                CLAIM_TTL_SECONDS))


def claimed_by(connection: Redis, queue: str, cycle_name: str) -> str:
    """The claim as it stands ("" when there is none), for the logs."""
    raw = connection.get(claim_key(queue, cycle_name))
    return raw.decode() if raw else ""
