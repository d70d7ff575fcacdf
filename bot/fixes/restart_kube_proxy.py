"""FIX-RESTART-KUBE-PROXY: `kubectl rollout restart daemonset/kube-proxy -n kube-system`, as kubectl does it.

kubectl sets the pod template annotation `kubectl.kubernetes.io/restartedAt` to the current
time; the DaemonSet controller then replaces its pods node by node. The check's plan carries
a placeholder for the time; it is filled when the preview is made, so the approved patch is
exactly the one written.
"""

from __future__ import annotations

import copy
from datetime import datetime

from bot.fixes.base import KubeWrite, Permission, kube_target, only_keys, require
from checks.k8s.kube_proxy import RESTARTED_AT_PLACEHOLDER
from checks.model import FixPlan

ID = "FIX-RESTART-KUBE-PROXY"
TITLE = "Rollout restart of daemonset/kube-proxy in kube-system"
CLOUD = False
CHECKS = ("K8S-KUBE-PROXY",)
PERMISSIONS = (
    Permission.rbac("get", "daemonsets", "apps", name="kube-proxy", namespace="kube-system"),
    Permission.rbac("patch", "daemonsets", "apps", name="kube-proxy", namespace="kube-system"),
)
ANNOTATION = "kubectl.kubernetes.io/restartedAt"


def write(plan: FixPlan, now: datetime) -> KubeWrite:
    kind, ns, name = kube_target(plan, ID, ("DaemonSet",), name="kube-proxy", namespace="kube-system")
    patch = copy.deepcopy(plan.patch)
    spec = patch.get("spec") if isinstance(patch, dict) else None
    template = spec.get("template") if isinstance(spec, dict) else None
    tmeta = template.get("metadata") if isinstance(template, dict) else None
    require(
        only_keys(patch, {"spec"}) and only_keys(spec, {"template"}) and only_keys(template, {"metadata"})
        and only_keys(tmeta, {"annotations"}) and only_keys(tmeta["annotations"], {ANNOTATION}),
        ID,
        f"it may set only the pod template annotation {ANNOTATION}",
    )
    if tmeta["annotations"][ANNOTATION] == RESTARTED_AT_PLACEHOLDER:
        tmeta["annotations"][ANNOTATION] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    return KubeWrite(kind, ns, name, patch, "strategic-merge")
