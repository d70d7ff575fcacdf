"""The data every layer agrees on: what is diagnosed, what a check says, and the report.

Findings are plain data so that the CLI, the Slack renderer, the JSON report and the
fix workers can all read them without knowing which check produced them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

# RFC 1123 label (namespaces) and DNS-1035 label (Service names), as the API server checks them.
# Always fullmatch: `$` also matches before a trailing newline ("shop\n" would pass re.match).
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_SERVICE_NAME = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")


class Status(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"
    ERROR = "error"
    # A verdict only, never a finding: nothing failed, but the reads that decide were missing or denied.
    INCOMPLETE = "incomplete"


class InvalidTarget(ValueError):
    """A namespace or Service name that Kubernetes would never accept."""


@dataclass(frozen=True)
class Target:
    """The Service being diagnosed. `cluster` names an entry of the config (or a kube context)."""

    namespace: str
    service: str
    cluster: str | None = None

    @classmethod
    def parse(cls, text: str, namespace: str | None = None, cluster: str | None = None) -> Target:
        """Parse `svc`, `ns/svc`; validate both names so bad input fails before any API call."""
        text = (text or "").strip()
        if "/" in text:
            ns, _, svc = text.partition("/")
            if namespace and namespace != ns:
                raise InvalidTarget(f"namespace given twice: '{ns}' in '{text}' and '{namespace}' in -n")
            namespace = ns
        else:
            svc = text
        namespace = namespace or "default"
        if not svc:
            raise InvalidTarget("no Service name given")
        if not _DNS_LABEL.fullmatch(namespace):
            raise InvalidTarget(
                f"'{namespace}' is not a valid namespace: lowercase letters, digits and '-', "
                "starting and ending with a letter or digit, at most 63 characters"
            )
        if not _SERVICE_NAME.fullmatch(svc):
            raise InvalidTarget(
                f"'{svc}' is not a valid Service name: lowercase letters, digits and '-', "
                "starting with a letter, at most 63 characters"
            )
        return cls(namespace=namespace, service=svc, cluster=cluster)

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.service}"

    def to_dict(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "service": self.service, "cluster": self.cluster}


@dataclass(frozen=True)
class ObjectRef:
    """The object a fix writes to, with the version the diagnosis saw (fixes refuse if it moved)."""

    kind: str  # Service, Ingress, DaemonSet, SecurityGroup, ...
    name: str
    namespace: str | None = None
    api_version: str = "v1"
    resource_version: str | None = None


@dataclass(frozen=True)
class FixPlan:
    """A change the bot can apply after approval; here it is only data (ID of CHECKS.md's FIX table).

    `patch` is the exact body sent (a strategic-merge/JSON-merge patch for Kubernetes objects,
    the API parameters for cloud writes); `command` is what a person would type instead.
    """

    id: str
    title: str
    patch: dict[str, Any] | list[Any]
    command: str
    target: ObjectRef | None = None
    patch_type: str = "strategic-merge"  # strategic-merge | merge | json | cloud-api
    tradeoff: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "patch": self.patch, "command": self.command}


@dataclass
class Finding:
    """What one check concluded.

    `cause` names the failure mechanism this finding claims (e.g. "healthcheck-path");
    `supports` names the mechanisms its evidence is consistent with. The ranker uses both to
    prefer a cause that evidence from other layers agrees with.
    """

    check_id: str
    status: Status
    summary: str
    evidence: list[str] = field(default_factory=list)
    next_step: str = ""
    fix: FixPlan | None = None
    cause: str = ""
    supports: tuple[str, ...] = ()
    score: float = 0.0  # set by the ranker
    symptom: bool = False  # set by the runner from the check's declaration: what the LB observes, not why

    @property
    def failing(self) -> bool:
        return self.status in (Status.FAIL, Status.WARN)

    def to_dict(self) -> dict[str, Any]:
        return {
            "check_id": self.check_id,
            "status": str(self.status),
            "summary": self.summary,
            "evidence": list(self.evidence),
            "next_step": self.next_step,
            "fix": self.fix.to_dict() if self.fix else None,
        }


@dataclass
class Verdict:
    status: Status
    check_id: str | None
    summary: str

    def to_dict(self) -> dict[str, Any]:
        return {"status": str(self.status), "check_id": self.check_id, "summary": self.summary}


@dataclass(frozen=True)
class Missing:
    """A read that decides the verdict and was not available: what it is, why, and what supplies it."""

    read: str  # the catalogue's name for it, e.g. "k8s.pods"
    what: str  # what a person calls it: "the pods the Service selects"
    reason: str  # "the dump has no Pod objects", "forbidden: cannot list pods ... grant ..."
    supply: tuple[str, ...]  # commands (offline) or permissions (live) that supply it, one per line
    checks: tuple[str, ...]  # the checks that could not decide without it

    def to_dict(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "what": self.what,
            "reason": self.reason,
            "supply": list(self.supply),
            "checks": list(self.checks),
        }


def no_api_calls() -> dict[str, int]:
    """API calls per source, all zero: Kubernetes, then each cloud provider."""
    from checks.providers import names  # providers build on State, which builds on this module

    return {"k8s": 0, **dict.fromkeys(names(), 0)}


@dataclass
class Report:
    """One diagnosis: findings ranked most probable root cause first."""

    target: Target
    verdict: Verdict
    findings: list[Finding]
    api_calls: dict[str, int] = field(default_factory=lambda: no_api_calls())
    duration_ms: int = 0
    cloud: str | None = None
    notes: list[str] = field(default_factory=list)
    missing: list[Missing] = field(default_factory=list)

    @property
    def root_cause(self) -> Finding | None:
        return next((f for f in self.findings if f.check_id == self.verdict.check_id), None)

    def by_status(self, *statuses: Status) -> list[Finding]:
        return [f for f in self.findings if f.status in statuses]

    @property
    def exit_code(self) -> int:
        """1 a failing finding, 3 could not decide (incomplete) or could not run (error), else 0."""
        if any(f.status == Status.FAIL for f in self.findings):
            return 1
        return 3 if self.verdict.status in (Status.INCOMPLETE, Status.ERROR) else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target.to_dict(),
            "verdict": self.verdict.to_dict(),
            "missing": [m.to_dict() for m in self.missing],  # what an `incomplete` verdict lacks, first
            "notes": list(self.notes),
            "findings": [f.to_dict() for f in self.findings],
            "api_calls": dict(self.api_calls),
            "duration_ms": self.duration_ms,
        }
