"""Which channel an incident's thread goes to: the first matching `alarm_routes` entry, else a default."""

from __future__ import annotations

import fnmatch
import logging
from typing import Any

from bot.policy import Access, NotAdmitted, RateLimiter
from bot.settings import Settings
from bot.webhooks import metrics
from bot.webhooks.alarms import Alarm

log = logging.getLogger("bot.incidents")


def route_channel(
    routes: list[Any], default: str | None, *, alarm_name: str, cluster: str | None = None, namespace: str | None = None
) -> str | None:
    """First matching route wins: every field a route sets must match (alarm is a shell glob)."""
    for r in routes or []:
        get = r.get if isinstance(r, dict) else (lambda k, _r=r: getattr(_r, k, None))
        if get("cluster") and get("cluster") != cluster:
            continue
        if get("namespace") and not fnmatch.fnmatchcase(namespace or "", get("namespace")):
            continue
        if get("alarm") and not fnmatch.fnmatchcase(alarm_name or "", get("alarm")):
            continue
        if not (get("cluster") or get("namespace") or get("alarm")):
            continue
        return get("channel")
    return default


def alarm_sender(alarm: Alarm) -> str:
    """Who sent an alarm, for the per-sender bound: the source and its AWS account or Tencent region."""
    return f"{alarm.source}:{alarm.account or alarm.region or '-'}"


class AlarmRouter:
    """The channel of a new incident, and the access policy and per-sender bound on it (in the worker's
    follow-up, after the Service is known: routes may name its cluster and namespace)."""

    def __init__(self, settings: Settings, redis: Any) -> None:
        self.settings = settings
        self.limiter = RateLimiter(redis)

    def _file_config(self) -> Any:
        try:
            return self.settings.file_config()
        except Exception as exc:  # a broken config must not lose the alarm: route to the default
            log.error("config unreadable while routing an alarm: %s", exc)
            return None

    def __call__(self, alarm: Alarm, mapping: dict[str, Any] | None = None) -> str | None:
        """Config routes by cluster, namespace, alarm name; then the cluster's channel; then
        LBHEALTH_ALARM_CHANNEL / alarm_channel."""
        cfg = self._file_config()
        routes = list(cfg.alarm_routes) if cfg else []
        clusters = list(cfg.clusters) if cfg else []
        cluster = (mapping or {}).get("cluster")
        if not cluster:
            same_cloud = [c for c in clusters if c.cloud in (None, alarm.cloud) and (not c.region or not alarm.region or c.region == alarm.region)]
            if len(same_cloud) == 1:
                cluster = same_cloud[0].name
        services = (mapping or {}).get("services") or []
        namespace = services[0].split("/", 1)[0] if services else None
        cluster_channel = next((c.channel for c in clusters if c.name == cluster and c.channel), None)
        default = cluster_channel or self.settings.lbhealth_alarm_channel or (cfg.alarm_channel if cfg else None)
        channel = route_channel(routes, default, alarm_name=alarm.name, cluster=cluster, namespace=namespace)
        return self._admit(alarm, cfg, cluster, channel)

    def _admit(self, alarm: Alarm, cfg: Any, cluster: str | None, channel: str | None) -> str | None:
        """The access policy on a new incident's channel, and the per-sender bound on new incidents
        (raises NotAdmitted with the reason, which the follow-up logs and records).

        Only new incidents come here (repeats already have their thread), so a storm of retries
        or repeats is still answered 2xx and counted on the existing root message."""
        if cfg is None or channel is None:
            return channel
        where = Access(cfg).alarm_channel(cluster, channel)
        if not where:
            raise NotAdmitted(f"not posted: {where.reason}")
        within = self.limiter.sender(cfg, alarm_sender(alarm))
        if not within:
            metrics.ALARMS_RECEIVED.labels(alarm.source, "rate_limited").inc()
            raise NotAdmitted(f"no new incident thread: {within.reason}")
        return channel
