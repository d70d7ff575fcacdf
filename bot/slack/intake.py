"""Accepted slash commands, between the acknowledgement and the job: a reliable Redis list.

    web process:     ack()  ->  submit(redis, body)            RPUSH lbhealth:intake
    intake consumer: BLMOVE lbhealth:intake -> lbhealth:intake:processing:<consumer>
                     CommandHandlers.process(body)          (dedup, root message, enqueue)
                     LREM the item from its processing list

A consumer that dies mid-command leaves the item in its processing list; any live consumer
moves the items of consumers whose liveness key (bot.worker.Liveness) has expired back onto
the intake list. Handling is idempotent (the command's dedup key, the target's claim), so an
item handled twice still yields one root message and one job.

`lbhealth serve` runs the consumer in a child process (`python -m bot.server --intake`), so
that follow-up work never competes with acknowledgements for the web process's GIL.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from typing import Any

from redis import Redis

log = logging.getLogger("lbhealth.intake")

INTAKE = "lbhealth:intake"
PROCESSING = "lbhealth:intake:processing:"
MAX_ATTEMPTS = 3
FIELDS = ("team_id", "enterprise_id", "channel_id", "user_id", "command", "text", "response_url", "trigger_id")


def submit(redis: Redis, body: dict[str, Any], retry: str | None = None) -> None:
    item = {"body": {k: body.get(k) for k in FIELDS if body.get(k) is not None}, "retry": retry,
            "received_at": time.time()}
    redis.rpush(INTAKE, json.dumps(item, separators=(",", ":")))


class IntakeConsumer:
    def __init__(self, settings: Any, redis: Redis, client, *, threads: int = 8, name: str | None = None,
                 recover_every: float = 5.0, poll: float = 1.0) -> None:
        from bot.slack.app import CommandHandlers

        self.redis = redis
        self.handlers = CommandHandlers(settings, redis, client)
        self.name = name or f"intake-{uuid.uuid4().hex[:12]}"
        self.processing = PROCESSING + self.name
        self.n_threads = threads
        self.recover_every = recover_every
        self.poll = poll
        self.stopped = threading.Event()
        self._threads: list[threading.Thread] = []
        self._liveness = None

    # -- one item ------------------------------------------------------------------------------
    def run_once(self, timeout: float = 1.0) -> bool:
        raw = self.redis.blmove(INTAKE, self.processing, timeout, "LEFT", "RIGHT")
        if raw is None:
            return False
        item: dict[str, Any] = {}
        try:
            item = json.loads(raw)
            self.handlers.process(item["body"], item.get("retry"))
        except Exception as exc:
            attempts = int(item.get("attempts", 0)) + 1
            if item and attempts < MAX_ATTEMPTS:
                log.warning("command failed; trying again", extra={"attempt": attempts, "error": repr(exc)})
                time.sleep(0.5 * attempts)
                self.redis.rpush(INTAKE, json.dumps({**item, "attempts": attempts}, separators=(",", ":")))
            else:
                log.exception("command failed after the acknowledgement; giving up")
                if item:
                    self.handlers.give_up(item["body"], type(exc).__name__)
        finally:
            self.redis.lrem(self.processing, 1, raw)
        return True

    def drain(self) -> int:
        """Handle everything on the intake list now (tests, --burst style)."""
        n = 0
        while self.run_once(timeout=0.01):
            n += 1
        return n

    # -- crash recovery --------------------------------------------------------------------------
    def recover(self) -> int:
        from bot.worker import alive_key

        moved = 0
        for key in self.redis.scan_iter(match=PROCESSING + "*", count=100):
            owner = key.decode()[len(PROCESSING):]
            if owner == self.name or self.redis.exists(alive_key(owner)):
                continue
            while self.redis.lmove(key, INTAKE, "LEFT", "RIGHT") is not None:
                moved += 1
        if moved:
            log.warning("handed back commands of a dead intake consumer", extra={"count": moved})
        return moved

    # -- threads -----------------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self.stopped.is_set():
            try:
                self.run_once(timeout=self.poll)
            except Exception:
                log.warning("intake loop error", exc_info=True)
                time.sleep(0.5)

    def _recover_loop(self) -> None:
        while not self.stopped.wait(self.recover_every):
            try:
                self.recover()
            except Exception:
                log.warning("intake recovery failed", exc_info=True)

    def start(self) -> IntakeConsumer:
        from bot.worker import Liveness

        self._liveness = Liveness(self.redis, self.name)
        self._liveness.start()
        self.recover()
        for i in range(self.n_threads):
            t = threading.Thread(target=self._loop, name=f"intake-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        t = threading.Thread(target=self._recover_loop, name="intake-recover", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self.stopped.set()
        for t in self._threads:
            t.join(timeout)
        if self._liveness is not None:
            self._liveness.stop()
