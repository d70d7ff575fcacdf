"""FIX-HEALTHCHECK-PATH: set the Ingress's ALB health-check path (or success codes) to what the app answers."""

from __future__ import annotations

from datetime import datetime

from bot.fixes.base import KubeWrite, Permission, annotations_patch, kube_target, require
from checks.model import FixPlan
from checks.providers.aws import ALB_ANN

ID = "FIX-HEALTHCHECK-PATH"
TITLE = "Set the Ingress health-check path (or success codes) to what the app answers"
CLOUD = False
CHECKS = ("K8S-ALB-INGRESS",)
PERMISSIONS = (
    Permission.rbac("get", "ingresses", "networking.k8s.io"),
    Permission.rbac("patch", "ingresses", "networking.k8s.io"),
)
ALLOWED = tuple(ALB_ANN + k for k in ("healthcheck-path", "success-codes", "healthcheck-port", "healthcheck-protocol"))


def write(plan: FixPlan, now: datetime) -> KubeWrite:
    kind, ns, name = kube_target(plan, ID, ("Ingress",))
    ann = annotations_patch(plan, ID, ALLOWED)
    require(all(k in ALLOWED for k in ann), ID, "only health-check path, port, protocol and success-codes annotations")
    require(plan.patch_type == "merge", ID, "annotations are set with a JSON merge patch")
    return KubeWrite(kind, ns, name, plan.patch, plan.patch_type)
