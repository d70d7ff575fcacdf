"""Accepted slash commands, between the acknowledgement and the job: a reliable Redis list.

    web process:     submit(redis, body)                       RPUSH lbhealth:intake
    worker process:  BLMOVE lbhealth:intake -> lbhealth:intake:processing:<consumer>
                     CommandStarter.process(body)            (dedup, root message, enqueue)
                     LREM the item from its processing list

A command that cannot start now (Slack or Redis slow or down) is tried again with backoff
(LBHEALTH_COMMAND_RETRY_BACKOFF) for up to LBHEALTH_COMMAND_RETRY_BUDGET seconds: it waits in
`lbhealth:intake:later` (a sorted set by due time) and the requester is told, once, that it is
late (once it has waited LBHEALTH_COMMAND_LATE_AFTER s). Only when the budget is spent is the command dropped, with a message saying so.

A consumer that dies mid-command leaves the item in its processing list; any live consumer moves
the items of consumers whose liveness key (bot.liveness) has expired back onto the intake list. A
live consumer whose Redis went away mid-command (a failover: neither the retry nor the LREM could be
written) hands back its own items that no thread holds any more. An item handed back either way
counts its interrupted attempt (`attempts` + 1), so the next attempt looks in the channel for the
root message the interrupted one may have posted (bot.slack.posting's marker) before posting one.
Handling is idempotent (the command's dedup key, the target's claim, the root message's marker),
so an item handled twice still yields one root message and one job.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from typing import Any, Protocol

from redis import Redis
from redis.exceptions import RedisError

from bot.liveness import Liveness, alive_key
from bot.redis_ha import follows_sentinel, on_a_replica, write_confirmed
from bot.settings import Settings

log = logging.getLogger("lbhealth.intake")

INTAKE = "lbhealth:intake"
PROCESSING = "lbhealth:intake:processing:"
LATER = "lbhealth:intake:later"
FIELDS = ("team_id", "enterprise_id", "channel_id", "user_id", "command", "text", "response_url", "trigger_id")

RECORDED, NOT_RECORDED, UNCONFIRMED = "recorded", "not_recorded", "unconfirmed"

# Move one item (ARGV[1]) from a processing list back to INTAKE as ARGV[2], if it is still there.
_HAND_BACK = """
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 1 then redis.call('RPUSH', KEYS[2], ARGV[2]) return 1 end
return 0
"""

# Move the items that are due from LATER to INTAKE, atomically (a crash in between loses nothing).
_DUE = """
local items = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 100)
for _, item in ipairs(items) do
  redis.call('ZREM', KEYS[1], item)
  redis.call('RPUSH', KEYS[2], item)
end
return #items
"""


def submit(redis: Redis, body: dict[str, Any], retry: str | None = None) -> str:
    """RPUSH the command; RECORDED, NOT_RECORDED (certainly not: no connection) or UNCONFIRMED (sent,
    but Redis did not answer in time: it will run the push if it wakes up; or, with Sentinel, no
    replica has it yet: it runs unless the primary dies first)."""
    item = {"body": {k: body.get(k) for k in FIELDS if body.get(k) is not None}, "retry": retry,
            "received_at": time.time(), "id": uuid.uuid4().hex}
    payload = json.dumps(item, separators=(",", ":"))
    pool = redis.connection_pool
    try:
        conn = pool.get_connection()
    except (RedisError, OSError) as exc:
        log.error("command not recorded: Redis cannot be reached", extra={"error": type(exc).__name__})
        return NOT_RECORDED
    try:
        try:
            conn.check_health()  # an idle connection is PINGed first: still before anything is sent
        except (RedisError, OSError) as exc:
            conn.disconnect()
            log.error("command not recorded: Redis cannot be reached", extra={"error": type(exc).__name__})
            return NOT_RECORDED
        try:
            conn.send_command("RPUSH", INTAKE, payload, check_health=False)
            conn.read_response()
            # half the socket timeout: a lagging replica is then an answer (0), not a timeout
            if follows_sentinel(redis) and on_a_replica(conn, (conn.socket_timeout or 1.0) / 2) is False:
                log.warning("command recorded on the primary but on no replica yet (a failover now would lose it)")
                return UNCONFIRMED
        except (RedisError, OSError) as exc:
            conn.disconnect()
            log.error("command sent to Redis but not confirmed", extra={"error": type(exc).__name__})
            return UNCONFIRMED
        return RECORDED
    finally:
        pool.release(conn)


def resumed(raw: bytes) -> bytes:
    """The item as handed back after an interrupted attempt: that attempt counts, so the next one
    searches for a root message it may have posted (a root posted twice is the failure mode)."""
    try:
        item = json.loads(raw)
        item["attempts"] = int(item.get("attempts", 0)) + 1
    except (ValueError, TypeError, AttributeError):
        return raw  # unreadable: handed back as it is, dropped (and logged) by the next consumer
    return json.dumps(item, separators=(",", ":")).encode()


class Starter(Protocol):
    """What starts a command (bot.slack.starter.CommandStarter)."""

    def process(self, body: dict[str, Any], retry: str | None = None, *, attempt: int = 0,
                item_id: str | None = None) -> None: ...

    def tell_late(self, body: dict[str, Any], deadline: float) -> bool: ...

    def give_up(self, body: dict[str, Any], reason: str) -> None: ...


def backoff(settings: Settings, attempts: int) -> float:
    steps = settings.command_retry_backoff or [5.0]
    return steps[min(attempts, len(steps)) - 1]


class IntakeConsumer:
    def __init__(self, settings: Settings, redis: Redis, starter: Starter, *, threads: int = 8,
                 name: str | None = None, recover_every: float = 1.0, poll: float = 1.0) -> None:
        self.settings = settings
        self.redis = redis
        self.starter = starter
        self.name = name or f"intake-{uuid.uuid4().hex[:12]}"
        self.processing = PROCESSING + self.name
        self.n_threads = threads
        self.recover_every = recover_every
        self.poll = poll
        self.stopped = threading.Event()
        self._threads: list[threading.Thread] = []
        self._liveness: Liveness | None = None
        self._due = redis.register_script(_DUE)
        self._hand_back = redis.register_script(_HAND_BACK)
        self._held: set[bytes] = set()  # items a thread of this consumer is handling now
        self._orphans: set[bytes] = set()  # items in our processing list held by no thread at the last look
        self._lock = threading.Lock()

    # -- one item ------------------------------------------------------------------------------
    def run_once(self, timeout: float = 1.0) -> bool:
        raw = self._take(timeout)
        if raw is None:
            return False
        with self._lock:
            self._held.add(raw)
        try:
            self._handle(raw)
        finally:
            with self._lock:
                self._held.discard(raw)
        return True

    def _take(self, timeout: float) -> bytes | None:
        """BLMOVE the next item into our processing list. With Sentinel, a replica must have the move
        before anything is posted: after a failover the item is then in a processing list (handed back
        and searched for), never back on the intake list as if nobody had touched it."""
        raw, replicated = write_confirmed(self.redis, "BLMOVE", INTAKE, self.processing, "LEFT", "RIGHT", timeout,
                                          wait_s=self.settings.lbhealth_redis_timeout)
        if raw is not None and replicated is False:
            log.warning("command taken with no replica confirming it (a failover now may post its root twice)")
        return raw

    def _handle(self, raw: bytes) -> None:
        """Start the command; on failure schedule its retry. Redis errors leave it in the processing list."""
        try:
            item = json.loads(raw)
        except ValueError:
            log.error("unreadable intake item dropped")
            self.redis.lrem(self.processing, 1, raw)
            return
        try:
            self.starter.process(item["body"], item.get("retry"), attempt=int(item.get("attempts", 0)),
                                 item_id=item.get("id"))
        except Exception as exc:
            self._later(item, exc)
        self.redis.lrem(self.processing, 1, raw)

    def _later(self, item: dict[str, Any], exc: Exception) -> None:
        """Try again after a backoff while the budget lasts (telling the requester once), else give up."""
        attempts = int(item.get("attempts", 0)) + 1
        deadline = float(item.get("received_at") or time.time()) + self.settings.lbhealth_command_retry_budget
        delay = backoff(self.settings, attempts)
        reason = type(exc).__name__
        if time.time() + delay > deadline:
            log.error("command could not start within its retry budget; giving up",
                      extra={"attempts": attempts, "error": reason})
            self.starter.give_up(item["body"], reason)
            return
        log.warning("command could not start; trying again later",
                    extra={"attempt": attempts, "in_s": delay, "error": reason})
        waited = time.time() - float(item.get("received_at") or time.time())
        if not item.get("told_late") and waited + delay >= self.settings.lbhealth_command_late_after:
            item["told_late"] = self.starter.tell_late(item["body"], deadline)
        item["attempts"] = attempts
        self.redis.zadd(LATER, {json.dumps(item, separators=(",", ":")): time.time() + delay})

    def drain(self) -> int:
        """Handle everything on the intake list now (tests)."""
        n = 0
        while self.run_once(timeout=0.01):
            n += 1
        return n

    # -- due retries and crash recovery ----------------------------------------------------------
    def move_due(self) -> int:
        return int(self._due(keys=[LATER, INTAKE], args=[time.time()]))

    def hand_back_own(self) -> int:
        """Items in our own processing list that no thread holds, at this look and the one before."""
        listed = set(self.redis.lrange(self.processing, 0, -1))
        with self._lock:
            orphans = listed - self._held
            due, self._orphans = orphans & self._orphans, orphans
        moved = self._give_back(self.processing, due)
        if moved:
            log.warning("handed back commands interrupted by a Redis failure", extra={"count": moved})
        return moved

    def _give_back(self, processing: str | bytes, items: Any) -> int:
        """Each item still in `processing` back onto the intake list, its interrupted attempt counted."""
        return sum(int(self._hand_back(keys=[processing, INTAKE], args=[raw, resumed(raw)])) for raw in items)

    def recover(self) -> int:
        """Hand back the items of consumers whose liveness key is gone (dead, or cut off long enough)."""
        moved = 0
        for key in self.redis.scan_iter(match=PROCESSING + "*", count=100):
            owner = key.decode()[len(PROCESSING):]
            if owner == self.name or self.redis.exists(alive_key(owner)):
                continue
            moved += self._give_back(key, self.redis.lrange(key, 0, 99))
        if moved:
            log.warning("handed back commands of a dead intake consumer", extra={"count": moved})
        return moved

    # -- threads -----------------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self.stopped.is_set():
            try:
                self.run_once(timeout=self.poll)
            except (RedisError, OSError):  # Redis down: the worker process logs the state change
                self.stopped.wait(1.0)

    def _housekeeping(self) -> None:
        while not self.stopped.wait(self.recover_every):
            try:
                self.move_due()
                self.recover()
                self.hand_back_own()
            except (RedisError, OSError):
                pass

    def start(self) -> IntakeConsumer:
        self._liveness = Liveness(self.redis, self.name)
        self._liveness.start()
        for i in range(self.n_threads):
            t = threading.Thread(target=self._loop, name=f"intake-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        t = threading.Thread(target=self._housekeeping, name="intake-housekeeping", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self.stopped.set()
        for t in self._threads:
            t.join(timeout)
        if self._liveness is not None:
            self._liveness.stop()
