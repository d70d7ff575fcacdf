"""FIX-NLB-ANNOTATION: bring the Service's NLB health-check annotations into range (or to the readiness probe)."""

from __future__ import annotations

from datetime import datetime

from bot.fixes.base import KubeWrite, Permission, annotations_patch, kube_target, require
from checks.model import FixPlan
from checks.providers.aws import SVC_ANN

ID = "FIX-NLB-ANNOTATION"
TITLE = "Bring an out-of-range health-check annotation into range"
CLOUD = False
CHECKS = ("K8S-NLB-ANNOTATIONS", "K8S-READINESS-VS-LB", "AWS-HC-NODEPORT")
PERMISSIONS = (Permission.rbac("get", "services"), Permission.rbac("patch", "services"))
ALLOWED_PREFIXES = (SVC_ANN + "healthcheck-", SVC_ANN + "nlb-target-type")


def write(plan: FixPlan, now: datetime) -> KubeWrite:
    kind, ns, name = kube_target(plan, ID, ("Service",))
    annotations_patch(plan, ID, ALLOWED_PREFIXES)
    require(plan.patch_type == "merge", ID, "annotations are set with a JSON merge patch")
    return KubeWrite(kind, ns, name, plan.patch, plan.patch_type)
