"""FIX-TARGETPORT: set a Service port's targetPort to the port the selected containers declare."""

from __future__ import annotations

from datetime import datetime

from bot.fixes.base import KubeWrite, Permission, kube_target, only_keys, require
from checks.model import FixPlan

ID = "FIX-TARGETPORT"
TITLE = "Patch the Service port's targetPort to the container's port"
CLOUD = False
CHECKS = ("K8S-TARGETPORT",)
PERMISSIONS = (Permission.rbac("get", "services"), Permission.rbac("patch", "services"))

_PORT_KEYS = {"name", "port", "protocol", "targetPort"}


def write(plan: FixPlan, now: datetime) -> KubeWrite:
    kind, ns, name = kube_target(plan, ID, ("Service",))
    patch = plan.patch
    require(plan.patch_type == "strategic-merge", ID, "Service ports are merged by port (strategic merge)")
    require(only_keys(patch, {"spec"}) and only_keys(patch["spec"], {"ports"}), ID, "it changes more than spec.ports")
    ports = patch["spec"]["ports"]
    require(isinstance(ports, list) and bool(ports), ID, "no port to change")
    for p in ports:
        require(only_keys(p, _PORT_KEYS) and isinstance(p.get("port"), int), ID, "a port entry must name its port and change only targetPort")
        target = p.get("targetPort")
        require(isinstance(target, int | str) and not isinstance(target, bool), ID, "targetPort must be a number or a port name")
    return KubeWrite(kind, ns, name, patch, plan.patch_type)
