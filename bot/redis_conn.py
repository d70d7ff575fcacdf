"""The one place Redis clients are built (from Settings), for the web tier and for workers.

    web = redis_client(settings, role="web")        # acks, webhooks, /readyz
    wrk = redis_client(settings, role="worker")     # rq workers, the intake consumer

Web tier: connect and socket timeouts of LBHEALTH_REDIS_TIMEOUT (0.5 s) and no automatic retry,
so a Redis that hangs (SIGSTOP, a full network buffer) costs a request at most that long, and a
command that timed out is never sent twice behind the caller's back (the caller decides what is
true to answer). Workers block on the queue (rq's dequeue waits up to ~15 s, the intake's BLMOVE
1 s), so their socket timeout is longer (LBHEALTH_WORKER_REDIS_TIMEOUT); they connect with the
same short timeout and reconnect on the next command. TLS, ACL users and Sentinel come from
bot.redis_ha (REDIS_URL, REDIS_PASSWORD, LBHEALTH_REDIS_SENTINELS).
"""

from __future__ import annotations

from typing import Literal

from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from bot.redis_ha import connect
from bot.settings import Settings


def redis_client(settings: Settings, *, role: Literal["web", "worker"]) -> Redis:
    timeout = settings.lbhealth_redis_timeout
    return connect(
        settings,
        socket_connect_timeout=timeout,
        socket_timeout=timeout if role == "web" else settings.lbhealth_worker_redis_timeout,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=30,
    )
