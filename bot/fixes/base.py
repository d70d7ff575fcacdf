"""What every fix module declares, and the writes a module turns a FixPlan into.

A fix module (one per FIX-* of CHECKS.md) is plain data plus one function:

    ID = "FIX-TARGETPORT"
    TITLE = "..."
    CLOUD = False                       # True: writes to a cloud API, only with cloud_writes on
    CHECKS = ("K8S-TARGETPORT",)        # originating checks: the fix still applies while one fails
    PERMISSIONS = (Permission.rbac("patch", "services"), ...)
    def write(plan: FixPlan, now: datetime) -> KubeWrite | CloudWrite

`write` never calls an API: it validates that the plan only touches what this fix may touch
(a record read back from Redis is not trusted) and returns the exact request. The engine
sends it. deploy/ turns PERMISSIONS into RBAC / IAM / CAM (a test holds them equal).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from checks.model import FixPlan

# Content types of the Kubernetes PATCH flavours a FixPlan names.
PATCH_CONTENT_TYPES = {
    "strategic-merge": "application/strategic-merge-patch+json",
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
}


class PlanError(ValueError):
    """A FixPlan this fix will not write: wrong object, or a change outside what the fix may touch."""


@dataclass(frozen=True)
class Permission:
    """One permission a fix needs. `kind` is rbac | iam | cam.

    RBAC: verb, api_group ("" = core), resource, resource_name ("" = any name), namespace
    ("" = the namespaces the bot serves; "kube-system" for kube-proxy). IAM/CAM: action.
    """

    kind: str
    verb: str = ""
    resource: str = ""
    api_group: str = ""
    resource_name: str = ""
    namespace: str = ""
    action: str = ""

    @classmethod
    def rbac(cls, verb: str, resource: str, api_group: str = "", *, name: str = "", namespace: str = "") -> Permission:
        return cls("rbac", verb=verb, resource=resource, api_group=api_group, resource_name=name, namespace=namespace)

    @classmethod
    def iam(cls, action: str) -> Permission:
        return cls("iam", action=action)

    @classmethod
    def cam(cls, action: str) -> Permission:
        return cls("cam", action=action)

    def describe(self) -> str:
        if self.kind == "rbac":
            group = self.api_group or "core"
            where = f" in {self.namespace}" if self.namespace else ""
            name = f" {self.resource_name}" if self.resource_name else ""
            return f"RBAC {self.verb} {self.resource}{name} ({group}){where}"
        return f"{self.kind.upper()} {self.action}"


@dataclass(frozen=True)
class KubeResource:
    group: str
    version: str
    plural: str

    def path(self, namespace: str, name: str) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        return f"{base}/namespaces/{namespace}/{self.plural}/{name}"


KUBE_KINDS = {
    "Service": KubeResource("", "v1", "services"),
    "Ingress": KubeResource("networking.k8s.io", "v1", "ingresses"),
    "DaemonSet": KubeResource("apps", "v1", "daemonsets"),
}


@dataclass(frozen=True)
class KubeWrite:
    """One PATCH of one namespaced object."""

    kind: str
    namespace: str
    name: str
    patch: dict[str, Any] | list[Any]
    patch_type: str  # strategic-merge | merge | json

    @property
    def resource(self) -> KubeResource:
        return KUBE_KINDS[self.kind]

    @property
    def content_type(self) -> str:
        return PATCH_CONTENT_TYPES[self.patch_type]


@dataclass(frozen=True)
class CloudWrite:
    """One cloud API call, sent by the writer of the provider it names (bot/fixes/clouds/<provider>.py)."""

    provider: str  # the provider's name in checks.providers: aws | tencent | ...
    action: str  # the API action: AuthorizeSecurityGroupIngress | CreateSecurityGroupPolicies | ...
    params: dict[str, Any]
    region: str | None
    command: str


@dataclass
class CloudResult:
    status: str  # applied | conflict | failed
    message: str


class SecurityGroupWriter(Protocol):
    """One cloud's half of FIX-SG-RULE: which plans are its, the call that adds the rule, the one
    that removes it again, and the group's rules for the approver's diff.

    A writer lives in bot/fixes/clouds/<provider name>.py as `WRITER`; `bot.fixes.cloud` finds it
    by the provider's name, so the generic fix flow never names a cloud. `clients` is
    `checks.collect.live.Clients`; a writer reads its own settings from `clients.of(provider)`.
    The pre-image a rollback needs is the write itself: {"provider", "params", "region"}.
    """

    provider: str
    checks: tuple[str, ...]  # this cloud's checks that propose FIX-SG-RULE: ("AWS-SG",)
    permissions: tuple[Permission, ...]  # IAM / CAM / ... actions deploy/ grants the writer

    def owns(self, api_version: str) -> bool:
        """Is a plan whose target SecurityGroup has this `api_version` ("ec2", "vpc/2017-03-12") this cloud's?"""
        ...

    def plan_write(self, plan: FixPlan, fix_id: str) -> CloudWrite:
        """The call for `plan`, refusing (PlanError) anything but one rule from a specific source."""
        ...

    def authorize(self, write: CloudWrite, clients: Any) -> CloudResult: ...

    def revoke(self, pre_image: dict[str, Any], clients: Any) -> CloudResult: ...

    def revoke_command(self, pre_image: dict[str, Any]) -> str:
        """What a person runs to remove the rule by hand (cloud writes off)."""
        ...

    def rules(self, write: CloudWrite, clients: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """The group's ingress rules now and with the new rule, one line each; raises when not read."""
        ...


class FixModule(Protocol):
    ID: str
    TITLE: str
    CLOUD: bool
    CHECKS: tuple[str, ...]
    PERMISSIONS: tuple[Permission, ...]

    def write(self, plan: FixPlan, now: datetime) -> KubeWrite | CloudWrite: ...


# ---- helpers the modules share ---------------------------------------------------------------


def kube_target(plan: FixPlan, fix_id: str, kinds: Iterable[str], *, name: str = "", namespace: str = "") -> tuple[str, str, str]:
    """(kind, namespace, name) of the plan's object, refusing anything but the kinds (and name) this fix writes."""
    if plan.id != fix_id:
        raise PlanError(f"{fix_id} cannot apply a plan of {plan.id}")
    ref = plan.target
    if ref is None or ref.kind not in kinds or not ref.name or not ref.namespace:
        raise PlanError(f"{fix_id} writes a {'/'.join(kinds)}; the plan names {ref.kind if ref else 'no object'}")
    if (name and ref.name != name) or (namespace and ref.namespace != namespace):
        raise PlanError(f"{fix_id} writes only {namespace}/{name}, not {ref.namespace}/{ref.name}")
    if plan.patch_type not in PATCH_CONTENT_TYPES:
        raise PlanError(f"{fix_id}: unknown patch type {plan.patch_type!r}")
    return ref.kind, ref.namespace, ref.name


def require(condition: bool, fix_id: str, what: str) -> None:
    if not condition:
        raise PlanError(f"{fix_id} refuses this plan: {what}")


def only_keys(value: Any, allowed: Iterable[str]) -> bool:
    return isinstance(value, dict) and set(value) <= set(allowed)


_WORLD = (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))


def not_world(cidr: Any) -> bool:
    """A CIDR a rule may admit: valid and narrower than the whole Internet."""
    try:
        return ipaddress.ip_network(str(cidr), strict=False) not in _WORLD
    except ValueError:
        return False


def annotations_patch(plan: FixPlan, fix_id: str, allowed_prefixes: tuple[str, ...]) -> dict[str, str]:
    """The annotations of a `{"metadata": {"annotations": {...}}}` patch, each under one of the prefixes."""
    patch = plan.patch
    require(only_keys(patch, {"metadata"}) and only_keys(patch["metadata"], {"annotations"}), fix_id, "it changes more than annotations")
    ann = patch["metadata"]["annotations"]
    require(isinstance(ann, dict) and bool(ann), fix_id, "no annotation to set")
    for key, value in ann.items():
        require(isinstance(value, str) and len(value) <= 256, fix_id, f"annotation {key} must be a short string")
        require(key.startswith(allowed_prefixes), fix_id, f"annotation {key} is not one this fix sets")
    return ann
