"""What a job uses in its worker process, and posting each part of a job at most once.

`Deps` is built by the composition root (bot.app.worker_deps) and set with `configure` by the
worker process (bot.worker_process) or a test; jobs (bot.worker, bot.approvals_jobs) read it
with `deps()`. Kept apart from bot.worker so that every kind of job can use it without importing
the diagnosis job.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from redis import Redis
from slack_sdk import WebClient

from bot.queue import PREFIX
from bot.redis_ha import write_confirmed
from bot.settings import Settings

POSTED_TTL = 7 * 24 * 3600
POST_CLAIM_TTL = 30  # a claim left by a worker killed mid-post expires after this

# (Outcome) -> None: updates the root message of a job's origin after the job (bot.worker.Outcome)
RootUpdater = Callable[[Any], None]
# (job, cluster config) -> (Target, extra State.options)
JobPreparer = Callable[[Any, Any], tuple[Any, dict[str, Any]]]


@dataclass
class Deps:
    """What jobs use in this process, built by the composition root (bot.app.worker_deps)."""

    settings: Settings
    redis: Redis
    client: WebClient
    root_updaters: dict[str, RootUpdater] = field(default_factory=dict)  # by job origin; default: commands'
    job_preparers: dict[str, JobPreparer] = field(default_factory=dict)  # by job origin; default: a Service


_deps: Deps | None = None


def configure(deps: Deps | None) -> Deps | None:
    """Set (or clear) the dependencies jobs use in this process (the worker process; tests)."""
    global _deps
    _deps = deps
    return deps


def configured() -> Deps | None:
    return _deps


def deps() -> Deps:
    if _deps is None:
        raise RuntimeError("bot.job_runtime.configure() was not called in this process (see bot.app.worker_deps)")
    return _deps


def once(redis: Redis, job_id: str, part: str, action: Callable[[bool], str]) -> str | None:
    """Run `action(search_first)` (which posts something and returns its ts/id) at most once per job and part.

    Returns the recorded value (from this call or an earlier run of the same job). Before the action,
    a `tried` flag is set (and, with Sentinel, waited for on a replica): a later run of the same part
    (after PostUnknown, a worker killed mid-post whose claim expired, or a failover that lost the
    recorded result) passes search_first=True, so that the post is looked for before it is made again.
    """
    key = f"{PREFIX}posted:{job_id}:{part}"
    deadline = time.monotonic() + POST_CLAIM_TTL + 5
    while True:
        value = redis.get(key)
        if value is not None and value != b"pending":
            return value.decode()
        if redis.set(key, "pending", nx=True, ex=POST_CLAIM_TTL):
            break
        # Another run of this job is posting this part right now, or died doing so: wait for
        # its result, or for its claim to expire (then this run posts it).
        if time.monotonic() > deadline:
            raise TimeoutError(f"part {part} of job {job_id} stayed claimed")
        time.sleep(0.2)
    try:
        result = action(_tried_before(redis, key + ":tried"))
    except BaseException:
        redis.delete(key)
        raise
    redis.set(key, result or "posted", ex=POSTED_TTL)
    return result


def _tried_before(redis: Redis, flag: str) -> bool:
    """Set the part's `tried` flag (with Sentinel, on a replica too: it must outlive a failover during
    the post); True if an earlier run had set it (it may have posted)."""
    wait_s = _deps.settings.lbhealth_redis_timeout if _deps else 0.5
    previous, _ = write_confirmed(redis, "SET", flag, "1", "EX", POSTED_TTL, "GET", wait_s=wait_s)
    return previous is not None


def posted(redis: Redis, job_id: str, part: str) -> str | None:
    value = redis.get(f"{PREFIX}posted:{job_id}:{part}")
    return value.decode() if value is not None and value != b"pending" else None
