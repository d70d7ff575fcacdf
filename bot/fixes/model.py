"""The engine's records: its context, a preview a person approves, what a write did, and its verification.

Preview and Outcome travel as `to_dict()` JSON in the fix records the Slack side keeps in Redis.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.fixes import objdiff
from bot.fixes.kube import KubeClient
from checks.collect.live import Clients
from checks.model import FixPlan, ObjectRef


class FixError(Exception):
    """A fix that cannot be previewed; `reason` is a short code (drift, passes, forbidden, unreachable, ...)."""

    def __init__(self, message: str, reason: str = "error") -> None:
        super().__init__(message)
        self.message, self.reason = message, reason


@dataclass
class FixContext:
    """What the engine talks to and decides with. `cloud_writes` is the caller's policy decision."""

    clients: Clients = field(default_factory=Clients)  # reads (re-diagnosis) and, unless `writer` is set, writes
    writer: Any = None  # kubernetes ApiClient of the write ServiceAccount (least privilege); None: clients.k8s
    cloud_writes: bool = False
    redis: Any = None  # audit stream; None: the JSON log line only
    probe: bool = False  # probes during re-diagnosis
    poll_interval_s: float = 5.0
    verify_timeout_s: float | None = None  # None: interval x healthy threshold + margin
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def kube(self, agent: str) -> KubeClient:
        from checks.collect.live import shared_api_client

        return KubeClient(self.writer or self.clients.k8s or shared_api_client(self.clients.context), agent)


@dataclass
class Preview:
    """What a person approves. Stored as `to_dict()` in a fix record; `digest` binds approval to it."""

    fix_id: str
    title: str
    check_id: str
    target: dict[str, Any]  # checks.model.Target.to_dict()
    object: dict[str, Any]  # kind, name, namespace, api_version
    resource_version: str | None
    patch: Any  # exactly what is sent
    patch_type: str
    command: str
    diff: str
    before: dict[str, Any]
    after: dict[str, Any]
    cloud: bool = False
    tradeoff: str = ""
    digest: str = ""

    def digest_input(self) -> dict[str, Any]:
        return {
            "fix_id": self.fix_id, "check_id": self.check_id, "target": self.target, "object": self.object,
            "resource_version": self.resource_version, "patch": self.patch, "patch_type": self.patch_type, "diff": self.diff,
            "command": self.command, "cloud": self.cloud,  # the command is what a person runs when cloud writes are off
        }

    def compute_digest(self) -> str:
        return objdiff.digest(self.digest_input())

    @property
    def target_ref(self) -> str:
        return f"{self.target.get('namespace')}/{self.target.get('service')}"

    def to_plan(self) -> FixPlan:
        return FixPlan(
            id=self.fix_id, title=self.title, patch=copy.deepcopy(self.patch), command=self.command,
            target=ObjectRef(resource_version=self.resource_version, **self.object), patch_type=self.patch_type, tradeoff=self.tradeoff,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preview:
        """A preview read back from a record; refuses one whose digest does not match its content."""
        try:
            p = cls(**{k: data[k] for k in cls.__dataclass_fields__})
        except (KeyError, TypeError) as exc:
            raise FixError(f"the fix record is incomplete ({exc}); run the diagnosis again", "tampered") from None
        if not p.digest or p.compute_digest() != p.digest:
            raise FixError("the fix record does not match the digest of what was previewed; nothing was written", "tampered")
        return p


@dataclass
class Verification:
    status: str  # verified | still-failing | rediagnosed (no cloud credentials: re-diagnosis only) | unverified (could not re-diagnose)
    message: str
    healthy: int | None = None
    total: int | None = None
    elapsed_s: float = 0.0
    failing_checks: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status in ("verified", "rediagnosed")


@dataclass
class Outcome:
    """What apply / rollback did. status: applied | rolled-back | refused | conflict | failed | command."""

    status: str
    message: str
    fix_id: str
    target: dict[str, Any]
    object: dict[str, Any]
    digest: str
    resource_version: str | None = None  # after the write
    pre_image: dict[str, Any] | None = None  # for rollback (Kubernetes); the added rule (cloud)
    command: str = ""
    cloud: bool = False
    verification: Verification | None = None

    @property
    def written(self) -> bool:
        return self.status in ("applied", "rolled-back")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Outcome:
        data = dict(data)
        v = data.pop("verification", None)
        return cls(**data, verification=Verification(**v) if v else None)


