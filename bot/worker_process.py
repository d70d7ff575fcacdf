"""`lbhealth worker`: rq workers for diagnosis jobs, each with the intake consumer next to it.

Each worker process runs, on one Redis client built by bot.redis_conn:
- an rq SimpleWorker on the `lbhealth` queue (jobs run in the process: no fork per job, the
  engine's imports and clients stay warm; rq's own scheduler is not started, see bot.worker);
- the intake consumer (bot.slack.intake): accepted /lbhealth commands -> root message -> job;
- the alarm follow-up (bot.incidents.followup): recorded alarms -> Service -> root message -> job
  (the web tier records alarms but has no Kubernetes permissions to find their Service);
- a liveness key and the reaper (bot.liveness, bot.worker.Reaper): a SIGKILLed worker's job is
  handed back within ~11 s (rq alone needs up to ~13 min; the bar is 60 s).

`--concurrency N` (N > 1) runs N such processes under rq's WorkerPool, which restarts one that
dies; with N = 1 the process is the worker. Scale further with replicas.

Redis down, at start or later: the process keeps running. It says "Redis unavailable" once
(bot.readiness), waits with backoff (1 s doubling to 30 s), and says "Redis available again" when
it is back; a worker whose Redis goes away mid-work starts over the same way. No traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from rq import SimpleWorker
from rq.serializers import JSONSerializer
from rq.worker_pool import WorkerPool

from bot.app import alarm_follow_ups, worker_deps
from bot.job_runtime import configure, configured
from bot.liveness import Liveness
from bot.logs import setup_logging
from bot.queue import QUEUE_NAME, get_queue
from bot.readiness import RedisHealth
from bot.redis_conn import redis_client
from bot.settings import Settings, get_settings
from bot.slack.intake import IntakeConsumer
from bot.slack.starter import CommandStarter
from bot.worker import Reaper

log = logging.getLogger("lbhealth.worker")

BACKOFF_FIRST, BACKOFF_MAX = 1.0, 30.0


def wait_for_redis(health: RedisHealth, stop: threading.Event | None = None) -> bool:
    """Block until Redis answers (backoff 1 s doubling to 30 s). False if `stop` was set first."""
    stop = stop or threading.Event()
    delay = BACKOFF_FIRST
    while health.check() is not None:
        if stop.wait(delay):
            return False
        delay = min(delay * 2, BACKOFF_MAX)
    return True


class LbhealthWorker(SimpleWorker):
    """An rq SimpleWorker that waits for Redis and runs the intake consumer, liveness and reaper beside it.

    Jobs use the dependencies configured in this process (bot.job_runtime.configure: tests, run_one); a
    WorkerPool child has none yet and builds them from `settings`, set on the class before the fork.
    """

    settings: Settings | None = None

    def __init__(self, queues: Any, *args: Any, connection: Redis, **kwargs: Any) -> None:
        wait_for_redis(RedisHealth(connection, "worker"))  # rq's constructor already talks to Redis
        super().__init__(queues, *args, connection=connection, **kwargs)

    def work(self, *args: Any, **kwargs: Any) -> bool:
        kwargs["with_scheduler"] = False  # due retries are moved by the reaper (bot.worker)
        burst = bool(kwargs.get("burst", args[0] if args else False))
        health = RedisHealth(self.connection, "worker")
        wait_for_redis(health)
        deps = configured() or configure(worker_deps(self.settings or get_settings(), redis=self.connection))
        settings = deps.settings
        liveness = Liveness(self.connection, self.name)
        reaper = Reaper(self.connection, self.name)
        intake = IntakeConsumer(settings, self.connection, CommandStarter(settings, self.connection, deps.client),
                                threads=settings.lbhealth_listener_threads, name=f"intake-{self.name}")
        follow_ups = None
        liveness.start()
        if burst:
            reaper.tick()
        else:
            reaper.start()
            if QUEUE_NAME in self.queue_names():  # the fix writer (`--queue lbhealth-fixes`) runs fix jobs only
                intake.start()
                follow_ups = alarm_follow_ups(settings, self.connection, deps.client, warm=True).start()
        log.info("worker started", extra={"worker": self.name, "pid": os.getpid(), "burst": burst})
        try:
            return super().work(*args, **kwargs)
        except (RedisError, OSError) as exc:
            health.saw_down(f"{type(exc).__name__}: {exc}")
            return False
        finally:
            if follow_ups is not None:
                follow_ups.stop()
            intake.stop()
            reaper.stop()
            liveness.stop()  # a job abandoned by a cold shutdown is handed back within a reaper period


    def subscribe(self) -> None:
        """rq's, listening in 1 s steps instead of 60 s: rq 3.0 listens with get_message(timeout=60) and
        redis-py 8 joins that thread when the worker stops, so every stop (burst end, SIGTERM) took 60 s."""
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(
            sleep_time=1, daemon=True, exception_handler=self._pubsub_exception_handler)


def make_worker(redis: Redis, name: str | None = None, queue: str = QUEUE_NAME) -> LbhealthWorker:
    return LbhealthWorker(
        [get_queue(redis, queue)], connection=redis, serializer=JSONSerializer, name=name,
        worker_ttl=30,  # dequeue blocks for worker_ttl - 15 s between heartbeats/maintenance
        maintenance_interval=60,
    )


def run_one(settings: Settings, *, burst: bool, name: str | None, queue: str = QUEUE_NAME) -> int:
    """One worker in this process; starts over (after Redis is back) if Redis goes away under it."""
    redis = redis_client(settings, role="worker")
    configure(worker_deps(settings, redis=redis))
    health = RedisHealth(redis, "worker")
    while True:
        wait_for_redis(health)  # rq's Worker reads Redis as it is built: a Redis that went away mid-job must be back first
        worker = make_worker(redis, name, queue)
        worker.work(burst=burst, logging_level=settings.lbhealth_log_level.upper())
        if burst or worker._stop_requested:
            return 0
        name = None  # a fresh name: the old one may still be registered until its key expires


def run_pool(settings: Settings, n: int, *, burst: bool, queue: str = QUEUE_NAME) -> int:
    LbhealthWorker.settings = settings
    redis = redis_client(settings, role="worker")
    wait_for_redis(RedisHealth(redis, "worker pool"))
    pool = WorkerPool([queue], connection=redis, num_workers=n, worker_class=LbhealthWorker,
                      serializer=JSONSerializer)
    pool.start(burst=burst, logging_level=settings.lbhealth_log_level.upper())
    return 0


def main(args: argparse.Namespace) -> int:
    settings = get_settings()
    setup_logging(settings.lbhealth_log_level)
    n = max(1, int(getattr(args, "concurrency", 1) or 1))
    burst = bool(getattr(args, "burst", False))
    queue = getattr(args, "queue", None) or QUEUE_NAME
    if n > 1:
        return run_pool(settings, n, burst=burst, queue=queue)
    return run_one(settings, burst=burst, name=getattr(args, "name", None), queue=queue)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bot.worker_process", description="Run lbhealth diagnosis workers")
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    p.add_argument("--name", default=None)
    p.add_argument("--queue", default=QUEUE_NAME, help="the rq queue to run (lbhealth-fixes: the fix writer)")
    return p


if __name__ == "__main__":
    sys.exit(main(_parser().parse_args()))
