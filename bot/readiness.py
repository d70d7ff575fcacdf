"""Whether this process can reach Redis, with one log line per change of state.

`/readyz` asks (503 while Redis is unreachable); failure paths report what they saw. The log says
"Redis unavailable" once when it goes away and "Redis available again" once when it is back,
instead of one traceback per request or per retry.
"""

from __future__ import annotations

import logging
import threading

from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger("lbhealth.redis")


class RedisHealth:
    def __init__(self, redis: Redis, where: str) -> None:
        self.redis = redis
        self.where = where  # "web", "worker": says which process speaks in the log
        self._up: bool | None = None
        self._lock = threading.Lock()

    def check(self) -> str | None:
        """None when Redis answers PING, else why not (and the state change is logged once)."""
        try:
            self.redis.ping()
        except (RedisError, OSError) as exc:
            reason = f"{type(exc).__name__}: {exc}"
            self.saw_down(reason)
            return reason
        self.saw_up()
        return None

    def saw_up(self) -> None:
        with self._lock:
            changed, self._up = self._up is False, True
        if changed:
            log.warning("Redis available again", extra={"role": self.where})

    def saw_down(self, reason: str) -> None:
        with self._lock:
            changed, self._up = self._up is not False, False
        if changed:
            log.error("Redis unavailable; waiting for it (web: /readyz answers 503; worker: retries with backoff)",
                      extra={"role": self.where, "error": reason[:300]})
