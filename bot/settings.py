"""The one place that reads the environment and the config file (`LBHEALTH_CONFIG`).

Environment names follow Bolt's where they exist (SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET,
SLACK_APP_TOKEN). The YAML config holds what does not fit in a variable: clusters, alarm
routing to channels, approvers, enabled fixes, severity overrides.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigError(ValueError):
    """The config file is missing, unreadable or invalid: the message says which and where."""


SLACK_USER = re.compile(r"[UW][A-Z0-9]{2,}")
SLACK_GROUP = re.compile(r"S[A-Z0-9]{2,}")
SLACK_CHANNEL = re.compile(r"[CGD][A-Z0-9]{2,}")
SLACK_TEAM = re.compile(r"[TE][A-Z0-9]{2,}")
FIX_IDS = ("FIX-TARGETPORT", "FIX-RESTART-KUBE-PROXY", "FIX-TRAFFIC-POLICY", "FIX-KUBE-PROXY-HOSTNAME",
           "FIX-HEALTHCHECK-PATH", "FIX-NLB-ANNOTATION", "FIX-SG-RULE")  # CHECKS.md's FIX table


def _approver_ids(value: list[str]) -> list[str]:
    for a in value:
        if not (SLACK_USER.fullmatch(a) or SLACK_GROUP.fullmatch(a)):
            raise ValueError(f"approver '{a}' is neither a Slack user ID (U...) nor a user-group ID (S...)")
    return value


def _fix_ids(value: list[str]) -> list[str]:
    for f in value:
        if f not in FIX_IDS:
            raise ValueError(f"'{f}' is not a fix ID; known: {', '.join(FIX_IDS)}")
    return value


class ClusterConfig(BaseModel):
    name: str
    context: str | None = None  # kube context; None = in-cluster or current context
    cloud: str | None = None  # aws | tencent | None (detect)
    region: str | None = None
    default: bool = False
    channel: str | None = None  # alarm follow-ups for this cluster
    sources: list[str] = Field(default_factory=list)  # dump files/dirs: an offline cluster (demos, support)
    probe: bool = True
    # Access (bot.policy): the channels (and optionally user groups) from which this cluster may be
    # diagnosed, for commands and alarm follow-ups. None = any channel (the behaviour before these keys).
    channels: list[str] | None = None
    user_groups: list[str] = Field(default_factory=list)  # S... ids; empty = anyone in an allowed channel

    @field_validator("channels")
    @classmethod
    def _channel_ids(cls, value: list[str] | None) -> list[str] | None:
        for c in value or []:
            if not SLACK_CHANNEL.fullmatch(c):
                raise ValueError(f"'{c}' is not a Slack channel ID (C..., G... or D...; not a #name)")
        return value

    @field_validator("user_groups")
    @classmethod
    def _group_ids(cls, value: list[str]) -> list[str]:
        for g in value:
            if not SLACK_GROUP.fullmatch(g):
                raise ValueError(f"'{g}' is not a Slack user-group ID (S...)")
        return value


class AlarmRoute(BaseModel):
    """First matching route wins: by cluster, namespace, or alarm name (shell-style glob)."""

    channel: str
    cluster: str | None = None
    namespace: str | None = None
    alarm: str | None = None


class RateLimits(BaseModel):
    """Bounds on new work (new jobs, new root messages); answers to repeats are never limited."""

    commands_per_user: int = Field(default=20, ge=1)  # per window, per Slack user
    incidents_per_sender: int = Field(default=30, ge=1)  # new alarm incidents per window, per alarm sender
    window_seconds: int = Field(default=60, ge=1, le=3600)


class AccessConfig(BaseModel):
    """Which Slack workspaces may use the bot, and rate limits (bot.policy). Empty = any workspace."""

    team_ids: list[str] = Field(default_factory=list)
    rate_limits: RateLimits = Field(default_factory=RateLimits)

    @field_validator("team_ids")
    @classmethod
    def _team_ids(cls, value: list[str]) -> list[str]:
        for t in value:
            if not SLACK_TEAM.fullmatch(t):
                raise ValueError(f"'{t}' is not a Slack team (workspace) ID (T...)")
        return value


class ApprovalScope(BaseModel):
    """Approvers and enabled fixes for the clusters/namespaces it matches (shell-style globs).

    The first matching scope replaces the top-level `approvers` / `enabled_fixes` it sets."""

    cluster: str | None = None
    namespace: str | None = None
    approvers: list[str] | None = None
    enabled_fixes: list[str] | None = None

    @field_validator("approvers")
    @classmethod
    def _approvers(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _approver_ids(value)

    @field_validator("enabled_fixes")
    @classmethod
    def _fixes(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _fix_ids(value)


class ApprovalConfig(BaseModel):
    """How fixes are approved (bot.policy.Approvals)."""

    two_person: bool = True  # the requester never approves their own request, even when an approver
    expiry_minutes: float = Field(default=15, gt=0, le=24 * 60)
    kill_switch: bool = False  # true: no Apply anywhere (Preview still works)
    scopes: list[ApprovalScope] = Field(default_factory=list)


class FileConfig(BaseModel):
    clusters: list[ClusterConfig] = Field(default_factory=list)
    alarm_routes: list[AlarmRoute] = Field(default_factory=list)
    alarm_channel: str | None = None
    approvers: list[str] = Field(default_factory=list)  # Slack user IDs or user-group IDs
    enabled_fixes: list[str] = Field(default_factory=list)
    cloud_writes: bool = False
    severity: dict[str, int] = Field(default_factory=dict)
    sns_topics: list[str] = Field(default_factory=list)
    tencent_webhook_secret: str | None = None
    tencent_basic_auth: str | None = None  # "user:password"
    access: AccessConfig = Field(default_factory=AccessConfig)
    approval: ApprovalConfig = Field(default_factory=ApprovalConfig)

    @field_validator("approvers")
    @classmethod
    def _approvers(cls, value: list[str]) -> list[str]:
        return _approver_ids(value)

    @field_validator("enabled_fixes")
    @classmethod
    def _fixes(cls, value: list[str]) -> list[str]:
        return _fix_ids(value)

    @field_validator("clusters")
    @classmethod
    def _one_default(cls, clusters: list[ClusterConfig]) -> list[ClusterConfig]:
        if sum(1 for c in clusters if c.default) > 1:
            raise ValueError("more than one cluster has default: true")
        for c in clusters:
            if c.channels is not None and c.channel and c.channel not in c.channels:
                raise ValueError(f"cluster {c.name}: its alarm channel {c.channel} is not in its channels")
        return clusters

    @model_validator(mode="after")
    def _routes_within_access(self) -> FileConfig:
        """An alarm route naming a cluster must post where that cluster may be diagnosed."""
        allowed = {c.name: c.channels for c in self.clusters if c.channels is not None}
        for r in self.alarm_routes:
            if r.cluster in allowed and r.channel not in allowed[r.cluster]:
                raise ValueError(f"alarm route to {r.channel} for cluster {r.cluster}: not one of its channels")
        return self


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_api_url: str = "https://slack.com/api/"
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Redis as a service (bot.redis_ha): a password kept out of the URL, and Sentinel failover
    redis_password: str | None = None
    lbhealth_redis_sentinels: str = ""  # "host:port,host:port": the primary is found through these
    lbhealth_redis_sentinel_master: str = "mymaster"
    lbhealth_redis_sentinel_password: str | None = None
    lbhealth_redis_sentinel_tls: bool = False  # the Sentinels listen on TLS (tls-port of sentinel.conf)
    lbhealth_redis_ca_file: str = ""  # CA bundle of the Redis/Sentinel certificates (a private CA)
    # rq queue of fix jobs (previews, approved writes). The Helm chart sets "lbhealth-fixes", which only
    # the fix writer (`lbhealth worker --queue lbhealth-fixes`, its own ServiceAccount) runs.
    lbhealth_fix_queue: str = "lbhealth"
    # Node checks (checks/collect/node.py): off unless the deployment grants the worker the node-reader
    # Role (the chart's nodeChecks.enabled sets these three); then each live diagnosis starts its reader
    # pods in LBHEALTH_NODE_NAMESPACE. Empty image: the collector's default.
    lbhealth_node_checks: bool = False
    lbhealth_node_namespace: str = "kube-system"
    lbhealth_node_image: str = ""
    lbhealth_config: Path | None = None
    lbhealth_alarm_channel: str | None = None
    lbhealth_tencent_webhook_secret: str | None = None
    lbhealth_sns_topics: str = ""
    lbhealth_tencent_endpoint: str | None = None
    lbhealth_eventbridge_secret: str | None = None
    lbhealth_max_body_bytes: int = 256 * 1024
    lbhealth_alarm_rediagnose_after: float = 15 * 60  # a repeat ALARM re-queues a diagnosis when the last is older
    lbhealth_alarm_flap_window: float = 10 * 60  # an ALARM this soon after recovery continues the same incident
    lbhealth_alarm_map_timeout: float = 10.0  # seconds to find the Service behind an alarm (off the request path)
    lbhealth_alarm_follow_up_threads: int = 2  # threads per worker process that map, post roots and enqueue for new incidents
    lbhealth_job_timeout: int = 120
    lbhealth_log_level: str = "INFO"
    # Slack bot and workers (issue 3)
    lbhealth_job_retry_intervals: str = "2,10,30"  # seconds between attempts after a transient error
    lbhealth_http_threads: int = 8  # threads per web process of `lbhealth serve` (waitress)
    lbhealth_http_processes: int = 2  # web processes of `lbhealth serve` (gunicorn workers, pre-forked)
    lbhealth_listener_threads: int = 8  # intake consumer threads per worker process (root message + enqueue)
    # Redis clients (bot.redis_conn): the web tier answers Slack within 3 s and webhooks within theirs, so
    # a Redis that hangs must cost a request at most this long; workers block on the queue and wait longer.
    lbhealth_redis_timeout: float = 0.5  # seconds: connect and socket timeout of the web tier's Redis client
    lbhealth_worker_redis_timeout: float = 60.0  # seconds: socket timeout of workers (above rq's blocking dequeue)
    lbhealth_slack_timeout: float = 15.0  # seconds before a Slack Web API call counts as lost
    lbhealth_command_retry_budget: float = 15 * 60  # seconds an accepted command keeps trying to start
    lbhealth_command_retry_backoff: str = "5,10,30,60"  # seconds between its attempts (the last repeats)
    lbhealth_command_late_after: float = 20.0  # seconds without a start before the requester is told it is late

    @property
    def job_retry_intervals(self) -> list[int]:
        return [int(x) for x in self.lbhealth_job_retry_intervals.split(",") if x.strip()]

    @property
    def command_retry_backoff(self) -> list[float]:
        return [float(x) for x in self.lbhealth_command_retry_backoff.split(",") if x.strip()]

    def file_config(self) -> FileConfig:
        return load_file_config(self.lbhealth_config)

    @property
    def sns_topic_allowlist(self) -> set[str]:
        topics = {t.strip() for t in self.lbhealth_sns_topics.split(",") if t.strip()}
        return topics | set(self.file_config().sns_topics)

    @property
    def tencent_secret(self) -> str | None:
        return self.lbhealth_tencent_webhook_secret or self.file_config().tencent_webhook_secret

    @property
    def alarm_channel(self) -> str | None:
        return self.lbhealth_alarm_channel or self.file_config().alarm_channel

    def cluster(self, name: str | None) -> ClusterConfig | None:
        """The named cluster, or the default one; None when the config names no cluster."""
        clusters = self.file_config().clusters
        if name:
            for c in clusters:
                if c.name == name:
                    return c
            known = ", ".join(c.name for c in clusters) or "none configured"
            raise ConfigError(f"unknown cluster '{name}' (known: {known})")
        return next((c for c in clusters if c.default), clusters[0] if len(clusters) == 1 else None)


def load_file_config(path: Path | None) -> FileConfig:
    if path is None:
        return FileConfig()
    return _load_cached(str(path))


@lru_cache(maxsize=8)
def _load_cached(path: str) -> FileConfig:
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except FileNotFoundError as exc:
        raise ConfigError(f"LBHEALTH_CONFIG points to {path}, which does not exist") from exc
    except OSError as exc:  # a directory, no permission, ...
        raise ConfigError(f"LBHEALTH_CONFIG points to {path}, which cannot be read: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    try:
        return FileConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def get_settings() -> Settings:
    return Settings()
