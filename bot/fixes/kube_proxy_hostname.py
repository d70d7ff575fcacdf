"""FIX-KUBE-PROXY-HOSTNAME: run kube-proxy with `--hostname-override=$(NODE_NAME)`, NODE_NAME from spec.nodeName.

Seed 000: with an NLB and a VPC whose DHCP options set a custom domain name, kube-proxy's
node name does not match the Node object and it programs no rules for the health check.
"""

from __future__ import annotations

from datetime import datetime

from bot.fixes.base import KubeWrite, Permission, kube_target, only_keys, require
from checks.model import FixPlan

ID = "FIX-KUBE-PROXY-HOSTNAME"
TITLE = "Run kube-proxy with --hostname-override=$(NODE_NAME)"
CLOUD = False
CHECKS = ("K8S-TRAFFIC-POLICY",)
PERMISSIONS = (
    Permission.rbac("get", "daemonsets", "apps", name="kube-proxy", namespace="kube-system"),
    Permission.rbac("patch", "daemonsets", "apps", name="kube-proxy", namespace="kube-system"),
)
NODE_NAME_ENV = {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeName"}}}


def write(plan: FixPlan, now: datetime) -> KubeWrite:
    kind, ns, name = kube_target(plan, ID, ("DaemonSet",), name="kube-proxy", namespace="kube-system")
    patch = plan.patch
    spec = patch.get("spec") if isinstance(patch, dict) else None
    template = spec.get("template") if isinstance(spec, dict) else None
    pod = template.get("spec") if isinstance(template, dict) else None
    require(
        only_keys(patch, {"spec"}) and only_keys(spec, {"template"}) and only_keys(template, {"spec"}) and only_keys(pod, {"containers"}),
        ID,
        "it may change only the kube-proxy container",
    )
    containers = pod["containers"]
    require(isinstance(containers, list) and len(containers) == 1, ID, "exactly one container is changed")
    c = containers[0]
    require(only_keys(c, {"name", "command", "args", "env"}) and c.get("name") == "kube-proxy", ID, "only kube-proxy's command, args and env")
    words = [str(w) for w in (c.get("command") or []) + (c.get("args") or [])]
    require(any("--hostname-override=$(NODE_NAME)" in w for w in words), ID, "the new command line must carry --hostname-override=$(NODE_NAME)")
    require(c.get("env") == [NODE_NAME_ENV], ID, "NODE_NAME must come from spec.nodeName")
    require(plan.patch_type == "strategic-merge", ID, "containers are merged by name (strategic merge)")
    return KubeWrite(kind, ns, name, patch, plan.patch_type)
