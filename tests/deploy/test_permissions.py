"""deploy/ grants exactly what lbhealth reads: the IAM and CAM policies list the collectors'
declared actions, and the RBAC ClusterRole admits every request a live diagnosis makes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from checks.collect.aws import IAM_READ_ACTIONS
from checks.collect.live import Clients, collect
from checks.collect.tencent import CAM_ACTIONS
from checks.model import Target
from checks.registry import default_registry
from tests import factories as f
from tests.fakes.kube_api import FakeKubeAPI

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
EXTRA_IAM = {"sns:ConfirmSubscription"}  # confirming the alarm topic's HTTPS subscription


def policy_actions(path: Path, statement: str, action: str) -> set[str]:
    doc = json.loads(path.read_text())
    actions: set[str] = set()
    for st in doc[statement]:
        value = st[action]
        actions.update([value] if isinstance(value, str) else value)
    return actions


def test_iam_policy_is_exactly_the_declared_read_actions():
    actions = policy_actions(DEPLOY / "iam-policy.json", "Statement", "Action")
    assert not any("*" in a for a in actions), "no wildcards: least privilege"
    assert actions == set(IAM_READ_ACTIONS) | EXTRA_IAM


def test_cam_policy_is_exactly_the_declared_read_actions():
    actions = policy_actions(DEPLOY / "cam-policy.json", "statement", "action")
    assert not any("*" in a for a in actions)
    assert actions == set(CAM_ACTIONS)


def cluster_role_rules() -> list[dict]:
    docs = list(yaml.safe_load_all((DEPLOY / "k8s" / "rbac.yaml").read_text()))
    roles = [d for d in docs if d and d.get("kind") == "ClusterRole" and d["metadata"]["name"] == "lbhealth-read"]
    assert roles, "deploy/k8s/rbac.yaml has the lbhealth-read ClusterRole"
    return roles[0]["rules"]


def allowed(rules: list[dict], group: str, resource: str, verb: str) -> bool:
    return any(group in r.get("apiGroups", []) and resource in r.get("resources", []) and verb in r.get("verbs", []) for r in rules)


def group_of(path: str) -> str:
    parts = path.strip("/").split("/")
    return "" if parts[0] == "api" else parts[1]


@pytest.fixture
def cluster():
    aws = {"service.beta.kubernetes.io/aws-load-balancer-type": "external", "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip"}
    crashing = f.pod("web-1", restarts=7, ready=False, waiting_reason="CrashLoopBackOff", last_terminated_reason="Error")
    objects = [
        f.service(annotations=aws, hostname="k8s-shop-web-0123456789-0123456789abcdef.elb.us-east-1.amazonaws.com"),
        crashing,
        f.service("lonely", selector={"app": "nobody"}),
        f.pod("other-1", labels={"app": "other"}, ip="127.0.0.5"),
        f.endpoint_slice(endpoints=[("127.0.0.2", False, "web-1", "node-1")]),
        f.ingress(),
        f.node(),
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "aws-load-balancer-controller", "namespace": "kube-system"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app.kubernetes.io/name": "aws-load-balancer-controller"}}},
            "status": {"replicas": 2, "readyReplicas": 0, "availableReplicas": 0},
        },
    ]
    with FakeKubeAPI() as api:
        api.add_many(objects)
        api.set_log("shop", "web-1", "app", "panic: config missing", previous=True)
        yield api


def test_rbac_admits_every_request_of_a_live_diagnosis(cluster, monkeypatch):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "TENCENTCLOUD_SECRET_ID"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    specs = default_registry().all()
    clients = Clients(k8s=cluster.api_client())
    # a crash-looping pod (previous logs), a selector matching nothing (namespace pods),
    # a Service that does not exist (Services cluster-wide): every conditional read happens
    for target in ("shop/web", "shop/lonely", "shop/missing"):
        collect(Target.parse(target), specs, options={"probe": False, "node": False, "offline": False}, clients=clients)
    rules = cluster_role_rules()
    seen = {(group_of(r.path), r.resource, r.verb) for r in cluster.calls() if r.verb in ("get", "list")}
    assert ("", "pods/log", "get") in seen and ("", "services", "list") in seen and ("", "pods", "list") in seen
    missing = sorted(s for s in seen if not allowed(rules, *s))
    assert not missing, f"deploy/k8s/rbac.yaml does not grant {missing}"
    writes = [r for r in cluster.calls() if r.verb not in ("get", "list", "discovery")]
    assert writes == [], "a diagnosis never writes"
