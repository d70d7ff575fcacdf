"""Alarm -> diagnosis job, and the worker-side hooks for alarm jobs.

A job for an alarm carries, besides the Service the alarm was mapped to, `extra`:
  alarm      the normalised alarm (bot.webhooks.alarms.Alarm.to_dict())
  mapping    how the Service was found, or why not (checks.collect.alarm_map.AlarmMapping.to_dict())
  options    what the cloud-side checks need without a Service, for State.options (the alarm's
             provider's alarm_options, then what the mapping learnt): {"aws_target_groups": [arn], ..}
  unmapped   true when no Service was found: the worker still runs the cloud-side checks

The mapping runs in the incident's follow-up in a worker (bot.incidents.followup: the web tier has no
Kubernetes permissions) when it opens, bounded by `timeout` seconds; results are cached in Redis per
incident key (10 min when a Service was found, 1 min when not).
"""

from __future__ import annotations

import json
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from bot.queue import DiagnosisJob
from bot.webhooks.alarms import Alarm, provider_of
from checks.collect import alarm_map
from checks.model import InvalidTarget, Target

log = logging.getLogger(__name__)

MAP_CACHE = "lbhealth:lbmap:"
MAP_CACHE_TTL = 10 * 60
UNMAPPED_NAMESPACE = "-"

_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="alarm-map")


def alarm_job(alarm: Alarm, outcome: Any, *, channel: str, root_ts: str | None, mapping: dict[str, Any] | None):
    """The DiagnosisJob for an incident's diagnosis number `outcome.job_seq`."""
    mapping = mapping or {}
    services = mapping.get("services") or []
    extra = {
        "alarm": alarm.to_dict(),
        "mapping": mapping,
        "options": {**alarm.lb_options(), **(mapping.get("lb") or {})},
        "incident_id": outcome.incident_id,
        "incident_seq": outcome.job_seq,
    }
    targets = valid_targets(services)
    if targets:
        namespace, service = targets[0].namespace, targets[0].service
        if len(targets) > 1:
            extra["other_services"] = [t.ref for t in targets[1:]]
        dedup = ""  # one job per Service at a time (the queue's target claim)
    else:
        if services:  # named by cloud data (tags, a TargetGroupBinding): not a Service Kubernetes would accept
            extra["mapping"] = {**mapping, "why": f"the load balancer names no valid Service ({str(services[0])[:200]!r})"}
        namespace, service = UNMAPPED_NAMESPACE, placeholder(alarm.subject)
        extra["unmapped"] = True
        dedup = f"incident:{outcome.incident_id}:{outcome.job_seq}"
    return DiagnosisJob(
        namespace=namespace,
        service=service,
        cluster=mapping.get("cluster"),
        channel=channel,
        root_ts=root_ts,
        requested_by=None,
        origin="alarm",
        incident_key=alarm.incident_key,
        dedup_key=dedup,
        extra=extra,
        # one id per incident diagnosis: a follow-up that Redis cut short is resumed by the next one
        # (it owns the target claim its first attempt took), not refused as "already running"
        job_id=f"incident-{outcome.incident_id}-{outcome.job_seq}",
    )


def valid_targets(services: list[Any]) -> list[Target]:
    """The `namespace/service` names a mapping found, validated as a command's are (Target.parse)."""
    out = []
    for ref in services:
        if not isinstance(ref, str) or "/" not in ref:
            continue
        try:
            out.append(Target.parse(ref))
        except InvalidTarget:
            continue
    return out


def placeholder(subject: str) -> str:
    """The job's service label when no Service was found: the load balancer, in plain characters."""
    return re.sub(r"[^A-Za-z0-9.:/ _-]", "", subject)[:253] or "load-balancer"


def job_options(job: Any) -> dict[str, Any]:
    """What the worker adds to the diagnosis options (State.options) for an alarm job."""
    extra = getattr(job, "extra", None) or {}
    opts = dict(extra.get("options") or {})
    cloud = provider_of(extra.get("alarm") or {})
    if cloud:  # else the diagnosis recognises the cloud from what it reads
        opts["cloud"] = cloud
    if extra.get("unmapped"):
        opts["unmapped_reason"] = (extra.get("mapping") or {}).get("why") or "no Service found for the load balancer"
    return opts


def prepare_alarm_job(job: Any, cluster: Any) -> tuple[Any, dict[str, Any]]:
    """bot.worker JOB_PREPARERS["alarm"]: the Target (a placeholder when no Service was found, so the
    Kubernetes checks skip and the cloud-side checks run on the load balancer) and the options."""
    cluster_name = cluster.name if cluster else job.cluster
    options = job_options(job)
    if (job.extra or {}).get("unmapped"):
        return Target(namespace=UNMAPPED_NAMESPACE, service=str(job.service)[:253], cluster=cluster_name), options
    return Target.parse(job.service, job.namespace, cluster_name), options


# ---- mapping: cached, bounded ------------------------------------------------------------------


def map_alarm(alarm: Alarm, *, clusters: list[Any] | None = None, clients: Any = None) -> dict[str, Any]:
    """The mapping dict, found by the alarm's provider (checks.collect.alarm_map.map_alarm)."""
    return alarm_map.map_alarm(alarm.to_dict(), clusters=clusters, clients=clients).to_dict()


class Mapper:
    """alarm -> mapping dict, from the Redis cache or `map_alarm`, within `timeout` seconds."""

    def __init__(self, redis, settings: Any = None, *, clients: Any = None, timeout: float = 3.0, clusters: list[Any] | None = None) -> None:
        self.redis = redis
        self.settings = settings
        self.clients = clients or alarm_map.Clients()  # one set of API clients for the process (kept warm)
        self.timeout = timeout
        self._clusters = clusters

    def clusters(self) -> list[Any]:
        if self._clusters is not None:
            return self._clusters
        try:
            return alarm_map.clusters_from_config(self.settings.file_config()) if self.settings is not None else []
        except Exception as exc:
            log.error("config unreadable for alarm mapping: %s", exc)
            return []

    def warm(self) -> None:
        """Import the API clients and build those of the configured clusters now, at worker start, so
        the first alarm of an incident does not pay ~1 s of imports before its root message."""
        try:
            alarm_map.warm(self.clients, self.clusters())
        except ImportError as exc:
            log.warning("alarm mapping clients not importable: %s", exc)

    def cached(self, alarm: Alarm) -> dict[str, Any] | None:
        raw = self.redis.get(MAP_CACHE + alarm.incident_key)
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return None

    def _run(self, alarm: Alarm) -> dict[str, Any]:
        mapping = map_alarm(alarm, clusters=self.clusters() or None, clients=self.clients)
        try:
            ttl = MAP_CACHE_TTL if mapping.get("services") else 60
            self.redis.set(MAP_CACHE + alarm.incident_key, json.dumps(mapping), ex=ttl)
        except Exception as exc:
            log.warning("mapping cache not written: %s", exc)
        return mapping

    def __call__(self, alarm: Alarm) -> dict[str, Any]:
        hit = self.cached(alarm)
        if hit is not None:
            return hit
        future = _pool.submit(self._run, alarm)
        try:
            return future.result(timeout=self.timeout)
        except FutureTimeout:
            log.warning("mapping %s took longer than %.1f s; diagnosing the load balancer without a Service", alarm.incident_key, self.timeout)
            return {"services": [], "cluster": None, "how": "", "lb": alarm.lb_options(),
                    "why": f"finding the Service took longer than {self.timeout:g} s (Kubernetes or cloud API slow)"}
        except Exception as exc:
            log.exception("mapping %s failed", alarm.incident_key)
            return {"services": [], "cluster": None, "how": "", "lb": alarm.lb_options(), "why": f"mapping failed: {exc}"}
