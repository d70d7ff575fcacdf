"""Prometheus metrics, in one dedicated registry served at GET /metrics.

Counters live per process: `lbhealth serve` exposes the command/enqueue side; workers count jobs
in their own process, and the job-state gauges below are read from Redis at scrape time so the
web app's /metrics shows the queue as a whole. Other modules (webhooks) add their metrics here.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess
from prometheus_client.core import GaugeMetricFamily

REGISTRY = CollectorRegistry(auto_describe=True)

COMMANDS = Counter(
    "lbhealth_commands_total", "Slash commands received, by outcome", ["outcome"], registry=REGISTRY
)
JOBS_QUEUED = Counter("lbhealth_jobs_queued_total", "Diagnosis jobs enqueued, by origin", ["origin"], registry=REGISTRY)
JOBS_DEDUPED = Counter(
    "lbhealth_jobs_deduplicated_total", "Requests answered with an existing job, by origin", ["origin"], registry=REGISTRY
)
JOBS_STARTED = Counter("lbhealth_jobs_started_total", "Job attempts started by this worker", registry=REGISTRY)
JOBS_DONE = Counter("lbhealth_jobs_done_total", "Jobs that posted a report, by verdict", ["verdict"], registry=REGISTRY)
JOBS_FAILED = Counter(
    "lbhealth_jobs_failed_total", "Job attempts that failed, by kind (transient|final|abandoned)", ["kind"],
    registry=REGISTRY,
)
JOB_DURATION = Histogram(
    "lbhealth_job_duration_seconds", "Time from job start to report posted",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300), registry=REGISTRY,
)
SLACK_API_ERRORS = Counter(
    "lbhealth_slack_api_errors_total", "Slack Web API calls that failed, by method and error", ["method", "error"],
    registry=REGISTRY,
)


Counts = Callable[[], dict[str, int]]  # bot.queue.queue_counts bound to a Redis client


class QueueCollector:
    """Gauges read from Redis at scrape time: jobs queued / running / failed right now."""

    def __init__(self, counts: Counts) -> None:
        self.counts = counts

    def collect(self):
        g = GaugeMetricFamily("lbhealth_jobs", "Diagnosis jobs in Redis now, by state", labels=["state"])
        try:
            for state, n in self.counts().items():
                g.add_metric([state], n)
        except Exception:  # Redis down: /readyz says so; a scrape must not fail
            pass
        yield g


_collector_for: set[int] = set()


def register_queue_gauges(counts: Counts) -> None:
    if id(REGISTRY) in _collector_for:
        return
    REGISTRY.register(QueueCollector(counts))
    _collector_for.add(id(REGISTRY))


def scrape_registry(counts: Counts) -> CollectorRegistry:
    """What /metrics serves: this process's registry, or, when `lbhealth serve` runs several web
    processes (PROMETHEUS_MULTIPROC_DIR set), the sum over all of them plus the queue gauges."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(QueueCollector(counts))
    return registry
