"""Each fix module: declared permissions, originating checks, and refusal of plans outside its remit.

A fix record comes back from Redis; a module writes only the change its FIX ID stands for,
to the kind (and name) of object it is for, whatever the record says.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.fixes import registry
from bot.fixes.base import CloudWrite, KubeWrite, PlanError
from checks.model import FixPlan, ObjectRef
from checks.registry import FIXES as CATALOGUE_FIXES
from checks.registry import default_registry

NOW = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
SVC = ObjectRef("Service", "web", "shop", "v1", "1001")
ING = ObjectRef("Ingress", "web", "shop", "networking.k8s.io/v1", "1001")
KP = ObjectRef("DaemonSet", "kube-proxy", "kube-system", "apps/v1", "1001")
HC = "service.beta.kubernetes.io/aws-load-balancer-healthcheck-"
KP_CONTAINER = {
    "name": "kube-proxy", "command": ["/bin/sh"], "args": ["-c", "kube-proxy --v=2 --hostname-override=$(NODE_NAME)"],
    "env": [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeName"}}}],
}

GOOD = {
    "FIX-TARGETPORT": (SVC, {"spec": {"ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 80}]}}, "strategic-merge"),
    "FIX-TRAFFIC-POLICY": (SVC, {"spec": {"externalTrafficPolicy": "Cluster"}}, "merge"),
    "FIX-NLB-ANNOTATION": (SVC, {"metadata": {"annotations": {HC + "interval": "10"}}}, "merge"),
    "FIX-HEALTHCHECK-PATH": (ING, {"metadata": {"annotations": {"alb.ingress.kubernetes.io/healthcheck-path": "/healthz"}}}, "merge"),
    "FIX-RESTART-KUBE-PROXY": (KP, {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "${APPLY_TIME_RFC3339}"}}}}}, "strategic-merge"),
    "FIX-KUBE-PROXY-HOSTNAME": (KP, {"spec": {"template": {"spec": {"containers": [KP_CONTAINER]}}}}, "strategic-merge"),
    "FIX-SG-RULE": (ObjectRef("SecurityGroup", "sg-0a", "us-east-1", "ec2"),
                    {"GroupId": "sg-0a", "IpPermissions": [{"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "UserIdGroupPairs": [{"GroupId": "sg-0b"}]}]}, "cloud-api"),
}

BAD = [
    ("FIX-TARGETPORT", SVC, {"spec": {"ports": [{"port": 80, "targetPort": 80}], "selector": {"app": "x"}}}, "more than spec.ports"),
    ("FIX-TARGETPORT", SVC, {"spec": {"ports": [{"port": 80, "targetPort": 80, "nodePort": 30000}]}}, "change only targetPort"),
    ("FIX-TARGETPORT", ING, {"spec": {"ports": [{"port": 80, "targetPort": 80}]}}, "writes a Service"),
    ("FIX-TRAFFIC-POLICY", SVC, {"spec": {"externalTrafficPolicy": "Local"}}, "to Cluster"),
    ("FIX-NLB-ANNOTATION", SVC, {"metadata": {"annotations": {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing"}}}, "not one this fix sets"),
    ("FIX-NLB-ANNOTATION", SVC, {"metadata": {"annotations": {HC + "interval": "10"}, "labels": {"a": "b"}}}, "more than annotations"),
    ("FIX-HEALTHCHECK-PATH", ING, {"metadata": {"annotations": {"alb.ingress.kubernetes.io/scheme": "internet-facing"}}}, "not one this fix sets"),
    ("FIX-RESTART-KUBE-PROXY", ObjectRef("DaemonSet", "aws-node", "kube-system", "apps/v1"), GOOD["FIX-RESTART-KUBE-PROXY"][1], "only kube-system/kube-proxy"),
    ("FIX-RESTART-KUBE-PROXY", KP, {"spec": {"template": {"metadata": {"annotations": {"other": "x"}}}}}, "only the pod template annotation"),
    ("FIX-KUBE-PROXY-HOSTNAME", KP, {"spec": {"template": {"spec": {"containers": [{**KP_CONTAINER, "image": "evil:latest"}]}}}}, "command, args and env"),
    ("FIX-KUBE-PROXY-HOSTNAME", KP, {"spec": {"template": {"spec": {"containers": [KP_CONTAINER], "hostPID": True}}}}, "only the kube-proxy container"),
    ("FIX-SG-RULE", ObjectRef("SecurityGroup", "sg-0a", None, "vpc/2017-03-12"),
     {"SecurityGroupId": "sg-0a", "SecurityGroupPolicySet": {"Ingress": [{"Protocol": "ALL", "Port": "ALL", "CidrBlock": "0.0.0.0/0", "Action": "ACCEPT"}]}}, "never 0.0.0.0/0"),
]


def _plan(fix_id, ref, patch, patch_type):
    return FixPlan(id=fix_id, title="t", patch=patch, command="c", target=ref, patch_type=patch_type)


def test_every_fix_of_the_catalogue_has_a_module_with_its_checks_and_permissions():
    assert set(registry.FIXES) == set(CATALOGUE_FIXES)
    checks = default_registry()
    for fix_id, module in registry.FIXES.items():
        assert fix_id == module.ID and module.PERMISSIONS and module.CHECKS
        for check_id in module.CHECKS:
            assert fix_id in checks.get(check_id).fixes, (fix_id, check_id)  # the check declares it offers this fix
        rbac = {(p.api_group, p.resource, p.verb) for p in module.PERMISSIONS if p.kind == "rbac"}
        for group, resource, verb in CATALOGUE_FIXES[fix_id]["writes"]:
            if group in ("aws", "tencent"):
                kind = "iam" if group == "aws" else "cam"
                assert any(p.kind == kind and p.action == resource for p in module.PERMISSIONS), (fix_id, resource)
            else:
                assert (group, resource, verb) in rbac and (group, resource, "get") in rbac, fix_id
        assert (fix_id == "FIX-SG-RULE") == module.CLOUD


@pytest.mark.parametrize("fix_id", sorted(GOOD))
def test_a_plan_in_remit_becomes_the_write(fix_id):
    ref, patch, patch_type = GOOD[fix_id]
    write = registry.get(fix_id).write(_plan(fix_id, ref, patch, patch_type), NOW)
    if fix_id == "FIX-SG-RULE":
        assert isinstance(write, CloudWrite) and write.provider == "aws" and write.params == patch
    else:
        assert isinstance(write, KubeWrite) and (write.kind, write.namespace, write.name) == (ref.kind, ref.namespace, ref.name)
    if fix_id == "FIX-RESTART-KUBE-PROXY":  # the time is fixed when previewed, so the approved patch is the one written
        assert write.patch["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"] == "2026-12-04T10:00:00Z"


@pytest.mark.parametrize(("fix_id", "ref", "patch", "message"), BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_a_plan_outside_the_fix_is_refused(fix_id, ref, patch, message):
    patch_type = GOOD[fix_id][2]
    with pytest.raises(PlanError, match=message):
        registry.get(fix_id).write(_plan(fix_id, ref, patch, patch_type), NOW)


def test_a_plan_of_another_fix_is_refused():
    ref, patch, patch_type = GOOD["FIX-TRAFFIC-POLICY"]
    with pytest.raises(PlanError, match="cannot apply a plan of FIX-TRAFFIC-POLICY"):
        registry.get("FIX-TARGETPORT").write(_plan("FIX-TRAFFIC-POLICY", ref, patch, patch_type), NOW)
