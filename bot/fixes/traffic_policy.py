"""FIX-TRAFFIC-POLICY: set `externalTrafficPolicy: Cluster` (trade-off: the pods lose the client's source IP)."""

from __future__ import annotations

from datetime import datetime

from bot.fixes.base import KubeWrite, Permission, kube_target, require
from checks.model import FixPlan

ID = "FIX-TRAFFIC-POLICY"
TITLE = "Set externalTrafficPolicy: Cluster (client source IP is lost)"
CLOUD = False
CHECKS = ("K8S-TRAFFIC-POLICY",)
PERMISSIONS = (Permission.rbac("get", "services"), Permission.rbac("patch", "services"))


def write(plan: FixPlan, now: datetime) -> KubeWrite:
    kind, ns, name = kube_target(plan, ID, ("Service",))
    require(plan.patch == {"spec": {"externalTrafficPolicy": "Cluster"}}, ID, "it must set only spec.externalTrafficPolicy to Cluster")
    require(plan.patch_type in ("merge", "strategic-merge"), ID, "an object patch is expected")
    return KubeWrite(kind, ns, name, plan.patch, plan.patch_type)
