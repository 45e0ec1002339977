"""A batch worker's wait for its next job, beside its recordings' ffmpeg exits.

RQ's idle worker waits for a job with a blocking ``BLMOVE`` of the queue into RQ's intermediate
queue. A batch worker that records cannot block there: its loop waits on its ffmpeg exits. So
it sends the same ``BLMOVE`` on a connection of its own without waiting for the answer, and its
loop's ``poll`` watches that connection's socket with the exits: a job enqueued is taken the
moment it is (by one worker only: Redis hands each job id to one waiting client), and a worker
with a free slot neither wakes nor asks Redis while none comes (docs/SCALING.md).

A job id Redis has moved into the intermediate queue is in this worker's hands: it is taken, or
put back at the head of the queue (:meth:`JobArrival.cancel`). Only a worker that dies with
an answer unread leaves one there, and RQ's maintenance fails it (and so retries it) as it does
for a worker of its own that dies between its ``BLMOVE`` and the job's start.
Imported only with the [cluster] extra.
"""
from __future__ import annotations

import select

from redis.exceptions import RedisError
from rq.utils import as_text

# How long one BLMOVE waits at most; then the loop sends another. An answer that has not come
# ARRIVAL_MARGIN_SECONDS after that (a Redis host gone without closing the connection) is given up.
ARRIVAL_WAIT_SECONDS = 30
ARRIVAL_MARGIN_SECONDS = 10.0
# A CLIENT UNBLOCK that found the wait not blocked yet (it came first by another connection) is
# sent again this many times, once the answer has not come within UNBLOCK_CHECK_SECONDS.
UNBLOCK_TRIES = 5
UNBLOCK_CHECK_SECONDS = 0.05
# One id from the intermediate queue back at the head of the queue, once only: a second run (a
# retried transaction, an id RQ's maintenance has dealt with meanwhile) pushes nothing.
_PUT_BACK = """
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 1 then
  redis.call('LPUSH', KEYS[2], ARGV[1])
end
"""


class JobArrival:
    """One ``BLMOVE`` of ``queue_key`` into ``intermediate_key`` at a time, on a connection of
    its own (``connection_class(**connection_kwargs)``: the worker's Redis)."""

    def __init__(self, connection_class: type, connection_kwargs: dict, queue_key: str,
                 intermediate_key: str) -> None:
        self.queue_key, self.intermediate_key = queue_key, intermediate_key
        self._make = lambda: connection_class(**connection_kwargs)
        self._connection = None
        self._client_id: int | None = None
        self._give_up_at: float | None = None  # monotonic: armed until then at most

    @property
    def armed(self) -> bool:
        """Whether a BLMOVE has been sent and its answer not read."""
        return self._give_up_at is not None

    @property
    def descriptor(self) -> int | None:
        """The socket a poll watches for the answer (None: not armed)."""
        return self._connection._sock.fileno() if self.armed else None

    def arm(self, at: float) -> None:
        """Send a BLMOVE (at monotonic ``at``) unless one waits already. RedisError: the
        connection is dropped, nothing is armed."""
        if self.armed:
            return
        try:
            if self._connection is None:
                self._connection = self._make()
                self._connection.send_command("CLIENT", "ID")
                self._client_id = int(self._connection.read_response())
            self._connection.send_command("BLMOVE", self.queue_key, self.intermediate_key,
                                          "LEFT", "RIGHT", ARRIVAL_WAIT_SECONDS)
        except BaseException:  # (a cold shutdown's SystemExit too: the connection's state)
            self.drop()
            raise
        self._give_up_at = at + ARRIVAL_WAIT_SECONDS + ARRIVAL_MARGIN_SECONDS

    def overdue(self, at: float) -> bool:
        """Whether the armed BLMOVE's answer is past its time and not there (the connection
        is dead)."""
        return self.armed and at >= self._give_up_at and not self.ready(0.0)

    def ready(self, seconds: float) -> bool:
        """Whether the armed BLMOVE's answer can be read, waiting up to ``seconds``."""
        watch = select.poll()
        watch.register(self.descriptor, select.POLLIN)
        return bool(watch.poll(seconds * 1000))

    def answer(self) -> str | None:
        """The armed BLMOVE's answer, once its socket is readable: the job id it moved, or None
        (its wait ended with none). RedisError: the connection is dropped (a job id it may have
        moved is left to RQ's maintenance)."""
        try:
            moved = self._connection.read_response()
        except BaseException:  # (a cold shutdown's SystemExit too: the connection's state)
            self.drop()
            raise
        self._give_up_at = None
        return as_text(moved) if moved is not None else None

    def cancel(self, control) -> str | None:
        """End the armed wait through ``control`` (another client of the same Redis): the job id
        it had moved already, if any (the caller takes it or :meth:`put_back` s it), else None.
        RedisError: the connection is dropped."""
        if not self.armed:
            return None
        try:
            for _ in range(UNBLOCK_TRIES):
                if control.client_unblock(self._client_id, error=False) or \
                        self.ready(UNBLOCK_CHECK_SECONDS):
                    break
        except RedisError:
            if not self.ready(0.0):  # (an answer there already is still read)
                self.drop()
                raise
        return self.answer()

    def put_back(self, control, job_id: str) -> None:
        """``job_id``, moved by this wait and not to be run here, back at the head of the queue
        (where the next worker takes it first), unless it has left the intermediate queue."""
        control.eval(_PUT_BACK, 2, self.intermediate_key, self.queue_key, job_id)

    def drop(self) -> None:
        """Close the connection (a new one for the next wait)."""
        connection, self._connection, self._give_up_at = self._connection, None, None
        if connection is not None:
            try:
                connection.disconnect()
            except (OSError, RedisError):
                pass
