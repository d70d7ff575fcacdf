"""The one place that reads the environment and the config file (`LBHEALTH_CONFIG`).

Environment names follow Bolt's where they exist (SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET,
SLACK_APP_TOKEN). The YAML config holds what does not fit in a variable: clusters, alarm
routing to channels, approvers, enabled fixes, severity overrides.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigError(ValueError):
    """The config file is missing, unreadable or invalid: the message says which and where."""


class ClusterConfig(BaseModel):
    name: str
    context: str | None = None  # kube context; None = in-cluster or current context
    cloud: str | None = None  # aws | tencent | None (detect)
    region: str | None = None
    default: bool = False
    channel: str | None = None  # alarm follow-ups for this cluster
    sources: list[str] = Field(default_factory=list)  # dump files/dirs: an offline cluster (demos, support)
    probe: bool = True


class AlarmRoute(BaseModel):
    """First matching route wins: by cluster, namespace, or alarm name (shell-style glob)."""

    channel: str
    cluster: str | None = None
    namespace: str | None = None
    alarm: str | None = None


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

    @field_validator("clusters")
    @classmethod
    def _one_default(cls, clusters: list[ClusterConfig]) -> list[ClusterConfig]:
        if sum(1 for c in clusters if c.default) > 1:
            raise ValueError("more than one cluster has default: true")
        return clusters


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_api_url: str = "https://slack.com/api/"
    redis_url: str = "redis://127.0.0.1:6379/0"
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
    lbhealth_alarm_follow_up_threads: int = 2  # threads per web process that map, post roots and enqueue for new incidents
    lbhealth_job_timeout: int = 120
    lbhealth_log_level: str = "INFO"
    # Slack bot and workers (issue 3)
    lbhealth_job_retry_intervals: str = "2,10,30"  # seconds between attempts after a transient error
    lbhealth_http_threads: int = 8  # waitress threads per web process of `lbhealth serve`
    lbhealth_http_processes: int = 2  # web processes of `lbhealth serve` (one listening socket, pre-forked)
    lbhealth_listener_threads: int = 16  # threads of the intake consumer (root message + enqueue)

    @property
    def job_retry_intervals(self) -> list[int]:
        return [int(x) for x in self.lbhealth_job_retry_intervals.split(",") if x.strip()]

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
