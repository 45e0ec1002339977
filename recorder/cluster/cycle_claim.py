"""Who writes a cluster cycle's reports: its coordinator, or the recorder that took it over.

A coordinator cut off from Redis for longer than its lock lives (its host's network alone) is
taken over by a standby, which reports the cycle it left (recorder/cluster/takeover.py). Back,
the coordinator must not report the same cycle again, nor the standby one the coordinator is
reporting. So each cycle has a claim in Redis, changed only by atomic scripts:

- ``running:<coordinator>`` from the cycle's start;
- at its end the coordinator turns its own ``running`` (or no claim: Redis lost its data)
  into ``reporting`` while it writes the reports, then ``reported`` (``left`` after an
  interrupted report: a clean stop mid-cycle, settled again by the next coordinator);
- a takeover turns anything but ``reporting`` and ``reported`` into ``taken:<taker>``, and
  gives it up again (no claim) when it could not write the report, or makes it ``reported``
  once its final report is handed to the history with the cycle's ``cycle.finished``: a later
  takeover (the taker died, the coordinator came back) reports it no more;
- a cycle whose ``cycle.finished`` went out already (``left``: its coordinator's clean stop
  sent it) is taken as ``taken-left:<taker>`` and given up as ``left:<taker>``: every later
  taker (this one dead before its hand-over, or unable to write) settles it without sending
  it again.

``reporting`` lives REPORTING_SECONDS only: a coordinator killed while writing leaves a claim
that lapses, and the cycle is taken over as any other a dead coordinator left.
"""
from __future__ import annotations

from enum import Enum

from redis import Redis
from redis.exceptions import RedisError

from recorder.cluster.link import PREFIX
from recorder.cluster.outage import OUTAGE

# A claim outlives its cycle's window by far: a coordinator cut off for days still finds it.
CLAIM_TTL_SECONDS = 7 * 24 * 3600
# Writing a cycle's reports (thousands of rows on a slow shared mount) takes less than this.
REPORTING_SECONDS = 300
RUNNING, REPORTED, LEFT = "running", "reported", "left"

# Its coordinator at the cycle's end: 1 its own claim, 2 no claim at all (both: now
# ``reporting``); 0 another recorder's.
_REPORT_SCRIPT = """
local claim = redis.call('GET', KEYS[1])
if claim and claim ~= 'running:' .. ARGV[1] and claim ~= 'reporting:' .. ARGV[1] then
    return 0
end
redis.call('SET', KEYS[1], 'reporting:' .. ARGV[1], 'EX', ARGV[2])
if claim then
    return 1
end
return 2
"""
# A takeover: 1 the cycle is the taker's to report; 4 too, its coordinator reported it
# interrupted at a clean stop (and sent its cycle.finished), or an earlier taker of such a
# cycle did not hand it over; 2 its coordinator is writing the reports; 0 it has (or a
# takeover did); 3 it is the taker's own running cycle (its lock retaken after Redis was away).
_TAKE_SCRIPT = """
local claim = redis.call('GET', KEYS[1])
if claim == 'running:' .. ARGV[1] then
    return 3
end
if claim and string.sub(claim, 1, 10) == 'reporting:' then
    return 2
end
if claim and string.sub(claim, 1, 9) == 'reported:' then
    return 0
end
if claim and (string.sub(claim, 1, 5) == 'left:' or string.sub(claim, 1, 11) == 'taken-left:')
then
    redis.call('SET', KEYS[1], 'taken-left:' .. ARGV[1], 'EX', ARGV[2])
    return 4
end
redis.call('SET', KEYS[1], 'taken:' .. ARGV[1], 'EX', ARGV[2])
return 1
"""
# The owner's claim (``reporting``, ``taken``, ``taken-left``) becomes ARGV[2] (a final
# state), or goes when ARGV[2] is empty (a ``taken-left`` one becomes ``left`` again: its
# cycle.finished is sent); another recorder's is left as it is.
_SETTLE_SCRIPT = """
local claim = redis.call('GET', KEYS[1])
local left = claim == 'taken-left:' .. ARGV[1]
if claim ~= 'reporting:' .. ARGV[1] and claim ~= 'taken:' .. ARGV[1] and not left then
    return 0
end
if ARGV[2] == '' and left then
    redis.call('SET', KEYS[1], 'left:' .. ARGV[1], 'EX', ARGV[3])
elseif ARGV[2] == '' then
    redis.call('DEL', KEYS[1])
else
    redis.call('SET', KEYS[1], ARGV[2] .. ':' .. ARGV[1], 'EX', ARGV[3])
end
return 1
"""


class Claim(Enum):
    """What a coordinator's claim at its cycle's end found."""

    OWN = 1  # its own claim: the reports are its to write
    UNCLAIMED = 2  # no claim (Redis lost it): its to write, unless a report is there already
    TAKEN = 0  # a takeover has the cycle


def claim_key(queue: str, cycle_name: str) -> str:
    """The claim on the reports of ``cycle_name``."""
    return f"{PREFIX}:{queue}:reporter:{cycle_name}"


def mark_running(connection: Redis, queue: str, cycle_name: str, owner: str) -> None:
    """``owner`` coordinates ``cycle_name`` from now on."""
    connection.set(claim_key(queue, cycle_name), f"{RUNNING}:{owner}", ex=CLAIM_TTL_SECONDS)


def still_running(connection: Redis, queue: str, cycle_name: str, owner: str) -> bool:
    """Whether ``cycle_name`` is still ``owner``'s running cycle (no claim: Redis lost it, so
    nobody took it over); False once another recorder took it over."""
    raw = connection.get(claim_key(queue, cycle_name))
    return raw is None or raw.decode() in (f"{RUNNING}:{owner}", f"reporting:{owner}")


def claim_report(connection: Redis, queue: str, cycle_name: str, owner: str) -> Claim:
    """Its coordinator ``owner``, at the end of ``cycle_name``, before it writes the reports."""
    return Claim(int(connection.eval(_REPORT_SCRIPT, 1, claim_key(queue, cycle_name), owner,
                                     REPORTING_SECONDS)))


class Take(Enum):
    """What a takeover's claim found."""

    TAKEN = 1  # the cycle is the taker's to report
    LEFT = 4  # the taker's to settle again: its coordinator's clean stop reported it (and sent
    # its cycle.finished), whichever takers took it over since
    BUSY = 2  # its coordinator is writing the reports (a claim that lapses if it dies doing so)
    REPORTED = 0  # its coordinator has written them, or a takeover did
    OWN = 3  # the taker's own running cycle: it goes on


def claim_takeover(connection: Redis, queue: str, cycle_name: str, owner: str) -> Take:
    """A recorder ``owner`` taking ``cycle_name`` over."""
    return Take(int(connection.eval(_TAKE_SCRIPT, 1, claim_key(queue, cycle_name), owner,
                                    CLAIM_TTL_SECONDS)))


def settle(connection: Redis, queue: str, cycle_name: str, owner: str, state: str) -> bool:
    """``owner``'s claim on ``cycle_name`` becomes ``state`` (REPORTED, LEFT) once its reports
    are written, or is given up (``state`` ""): the reports could not be written (a cycle
    whose cycle.finished went out stays ``left``: the module docstring). False when
    the claim is no longer ``owner``'s."""
    return bool(connection.eval(_SETTLE_SCRIPT, 1, claim_key(queue, cycle_name), owner, state,
                                CLAIM_TTL_SECONDS))


def settle_or_note(connection: Redis, queue: str, cycle_name: str, owner: str,
                   state: str) -> None:
    """:func:`settle`, with Redis away noted (recorder/cluster/outage.py) rather than raised:
    a ``reporting`` claim left lapses, a ``taken`` one is the next takeover's."""
    try:
        settle(connection, queue, cycle_name, owner, state)
    except RedisError as exc:
        OUTAGE.failed(exc)
