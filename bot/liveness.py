"""Liveness keys: `lbhealth:alive:<name>` exists while the process named <name> runs.

Each worker process refreshes its key every ALIVE_REFRESH s (TTL ALIVE_TTL s); the reaper
(bot.worker.Reaper) hands back the jobs and intake items of processes whose key is gone.
"""

from __future__ import annotations

import logging
import os
import threading

from redis import Redis

log = logging.getLogger("lbhealth.worker")

ALIVE_TTL = 10  # seconds a worker's liveness key outlives its last refresh
ALIVE_REFRESH = 2
PREFIX = "lbhealth:"


def alive_key(worker_name: str) -> str:
    return f"{PREFIX}alive:{worker_name}"


class Liveness(threading.Thread):
    """Refreshes `lbhealth:alive:<worker>` while this process lives."""

    def __init__(self, redis: Redis, worker_name: str) -> None:
        super().__init__(name="lbhealth-liveness", daemon=True)
        self.redis, self.worker_name = redis, worker_name
        self.stopped = threading.Event()
        self.beat()

    def beat(self) -> None:
        self.redis.set(alive_key(self.worker_name), str(os.getpid()), ex=ALIVE_TTL)

    def run(self) -> None:
        while not self.stopped.wait(ALIVE_REFRESH):
            try:
                self.beat()
            except Exception:
                log.warning("liveness refresh failed", exc_info=True)

    def stop(self) -> None:
        self.stopped.set()
        try:
            self.redis.delete(alive_key(self.worker_name))
        except Exception:
            pass
