"""The rendered chart grants exactly what lbhealth uses: every request a live diagnosis, the node
reader and the alarm mapper make is granted to the ServiceAccount of the process that makes it (the
worker: serve only records and queues, and holds no Kubernetes permission at all), and every granted
rule is used by one of them (a permission nobody uses fails). The IAM and CAM read policies list the
collectors' declared actions."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import boto3
import helm_python as helm
import pytest
from moto import mock_aws

from bot.settings import FIX_IDS
from checks.collect.alarm_map import Clients as MapClients
from checks.collect.aws import IAM_READ_ACTIONS
from checks.collect.aws_alarm_map import map_aws
from checks.collect.live import Clients, collect
from checks.collect.node import collect_node_facts
from checks.collect.tencent import CAM_ACTIONS
from checks.collect.tencent_alarm_map import map_tencent
from checks.model import Target
from checks.registry import default_registry
from tests import factories as f
from tests.collect.test_node import IPTABLES_KUBE_PROXY, SYSCTL_TKE, _kubelet, _svc_state
from tests.deploy.chart import NAMESPACE, SCENARIOS, container_env, of_kind, render
from tests.fakes.kube_api import FakeKubeAPI
from tests.fakes.tencent_api import FakeTencentAPI

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
EXTRA_IAM = {"sns:ConfirmSubscription"}  # confirming the alarm topic's HTTPS subscription (serve)

Grant = tuple[str, str, str, str, str]  # namespace ("*" = all), api group, resource, verb, resource name ("" = any)


def grants(docs: list[dict[str, Any]], account: str) -> set[Grant]:
    """What the ServiceAccount `account` may do, from the rendered (Cluster)Roles and their bindings."""
    roles = {(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]): d for d in of_kind(docs, "ClusterRole") + of_kind(docs, "Role")}
    out: set[Grant] = set()
    for b in of_kind(docs, "ClusterRoleBinding") + of_kind(docs, "RoleBinding"):
        if not any(s["kind"] == "ServiceAccount" and s["name"] == account and s["namespace"] == NAMESPACE for s in b["subjects"]):
            continue
        ref = b["roleRef"]
        scope = b["metadata"].get("namespace")
        role = roles[(ref["kind"], None if ref["kind"] == "ClusterRole" else scope, ref["name"])]
        for rule in role["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for verb in rule["verbs"]:
                        for name in rule.get("resourceNames") or [""]:
                            out.add((scope or "*", group, resource, verb, name))
    return out


def group_of(path: str) -> str:
    parts = path.strip("/").split("/")
    return "" if parts[0] == "api" else parts[1]


def granting(granted: set[Grant], request: Any) -> set[Grant]:
    """The grants that admit one recorded request (a named rule admits get/patch/delete of that name only)."""
    group = group_of(request.path)
    return {
        g for g in granted
        if g[0] in ("*", request.namespace) and g[1] == group and g[2] == request.resource and g[3] == request.verb
        and g[4] in ("", request.name if request.verb not in ("list", "create") else "")
    }


def hold(granted: set[Grant], requests: list[Any], who: str) -> None:
    """Every request granted, every grant used."""
    missing = sorted({(r.verb, r.resource, group_of(r.path), r.namespace, r.name) for r in requests if not granting(granted, r)})
    assert not missing, f"the chart does not grant {who}: {missing}"
    used = set().union(*(granting(granted, r) for r in requests))
    assert granted - used == set(), f"{who} is granted what it never uses: {sorted(granted - used)}"


@pytest.fixture
def no_cloud(monkeypatch):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "TENCENTCLOUD_SECRET_ID"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")


def cluster_objects() -> list[dict[str, Any]]:
    aws = {"service.beta.kubernetes.io/aws-load-balancer-type": "external", "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip"}
    crashing = f.pod("web-1", restarts=7, ready=False, waiting_reason="CrashLoopBackOff", last_terminated_reason="Error")
    lbc = f.pod("aws-load-balancer-controller-1", "kube-system", labels={"app.kubernetes.io/name": "aws-load-balancer-controller"}, ip="127.0.0.9")
    lbc["spec"]["containers"][0]["name"] = "controller"
    return [
        f.service(annotations=aws, hostname="k8s-shop-web-0123456789-0123456789abcdef.elb.us-east-1.amazonaws.com"),
        crashing,
        lbc,
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


def diagnose(api: FakeKubeAPI) -> None:
    specs = default_registry().all()
    clients = Clients(k8s=api.api_client())
    # a crash-looping pod (previous logs), a selector matching nothing (namespace pods), a Service
    # that does not exist (Services cluster-wide): every conditional read happens
    for target in ("shop/web", "shop/lonely", "shop/missing"):
        collect(Target.parse(target), specs, options={"probe": False, "node": False, "offline": False}, clients=clients)


def test_worker_rbac_is_exactly_what_diagnoses_node_readers_and_alarm_mapping_request(no_cloud, monkeypatch):
    docs = render({"nodeChecks": {"enabled": True}})
    requests = map_alarms(monkeypatch)  # a new incident's follow-up runs in the worker
    with FakeKubeAPI(cluster_objects()) as api:
        api.set_log("shop", "web-1", "app", "panic: config missing", previous=True)
        api.set_log("kube-system", "aws-load-balancer-controller-1", "controller", "AccessDenied: elasticloadbalancing:DescribeTags")
        diagnose(api)
        requests += api.calls()
        assert ("", "pods/log", "get") in {(group_of(r.path), r.resource, r.verb) for r in requests}
    # a cluster without the EndpointSlice API: the Endpoints object instead
    with FakeKubeAPI(cluster_objects(), absent_apis={"discovery.k8s.io/v1"}) as api:
        diagnose(api)
        requests += api.calls()
    # node checks: a reader pod per node, in the namespace the chart's node-reader Role is for
    outputs = {n: f"# node: {n}\n" + SYSCTL_TKE + IPTABLES_KUBE_PROXY for n in ("node-1", "node-2")}
    with FakeKubeAPI([], record_bodies=True) as api:
        stop = threading.Event()
        kubelet = threading.Thread(target=_kubelet, args=(api, outputs, stop), daemon=True)
        kubelet.start()
        try:
            state = _svc_state()
            collect_node_facts(state, api.api_client(), poll_s=0.02)
        finally:
            stop.set()
            kubelet.join()
        assert "node" not in state.read_errors
        requests += api.calls()
    requests = [r for r in requests if r.verb != "discovery"]
    hold(grants(docs, "lbhealth-worker"), requests, "the worker")


def test_node_reader_role_only_with_node_checks():
    assert not [g for g in grants(render(), "lbhealth-worker") if g[3] in ("create", "delete")]
    roles = {r["metadata"]["name"]: r for r in of_kind(render({"nodeChecks": {"enabled": True, "namespace": "lbhealth-node"}}), "Role")}
    assert roles["lbhealth-node-reader"]["metadata"]["namespace"] == "lbhealth-node"


def map_alarms(monkeypatch) -> list[Any]:
    """The Kubernetes requests of mapping an AWS alarm (TargetGroupBinding; target-group tags -> Ingress)
    and a Tencent one (CLB -> annotated Service) to their Services."""
    arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/k8s-shop-web-6f3c1b2a9d/73e2d6bc24d8a067"
    tgb = {"apiVersion": "elbv2.k8s.aws/v1beta1", "kind": "TargetGroupBinding", "metadata": {"name": "web", "namespace": "shop"},
           "spec": {"serviceRef": {"name": "web", "port": 80}, "targetGroupARN": arn, "targetType": "ip"}}
    ing = f.ingress()
    svc = f.service("web", "shop", annotations={"service.kubernetes.io/loadbalance-id": "lb-abc12345"})
    requests = []
    with FakeKubeAPI([tgb, ing, svc]) as api:
        clients = MapClients(kube=lambda ctx: api.api_client(), elbv2=lambda region: pytest.fail("the binding answers"))
        assert map_aws([arn], region="us-east-1", clients=clients).services == ["shop/web"]
        requests += api.calls()
    with FakeTencentAPI() as tencent, FakeKubeAPI([svc, ing]) as api:
        monkeypatch.setenv("LBHEALTH_TENCENT_ENDPOINT", tencent.url)
        monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", "AKIDtest")
        monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", "secret")
        tencent.cloud.add_load_balancer({"LoadBalancerId": "lb-abc12345", "LoadBalancerName": "web", "LoadBalancerType": "OPEN",
                                         "Forward": 1, "LoadBalancerVips": ["127.0.0.80"], "Status": 1, "VpcId": "vpc-1"})
        m = map_tencent(vip="127.0.0.80", port=80, protocol="tcp", region="ap-guangzhou", clients=MapClients(kube=lambda ctx: api.api_client()))
        assert m.services == ["shop/web"]
        requests += api.calls()
    # an alarm on an Ingress's target group (tags, moto): the mapper lists that namespace's Ingresses
    with mock_aws(), FakeKubeAPI([ing], absent_apis={"elbv2.k8s.aws/v1beta1"}) as api:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        elbv2 = boto3.client("elbv2", region_name="us-east-1")
        vpc = boto3.client("ec2", region_name="us-east-1").create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        tg = elbv2.create_target_group(Name="k8s-shop-web", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
        elbv2.add_tags(ResourceArns=[tg], Tags=[{"Key": "ingress.k8s.aws/stack", "Value": f"shop/{ing['metadata']['name']}"},
                                                {"Key": "ingress.k8s.aws/resource", "Value": f"shop/{ing['metadata']['name']}-web:80"}])
        assert map_aws([tg], region="us-east-1", clients=MapClients(kube=lambda ctx: api.api_client())).services
        requests += api.calls()
    return requests


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_serve_has_zero_kubernetes_permissions(scenario):
    assert grants(render(SCENARIOS[scenario]), "lbhealth-serve") == set()
    assert grants(render(SCENARIOS[scenario]), "lbhealth-worker")  # the same reading finds the worker's


def policy_actions(path: Path, statement: str, action: str) -> set[str]:
    doc = json.loads(path.read_text())
    actions: set[str] = set()
    for st in doc[statement]:
        value = st[action]
        actions.update([value] if isinstance(value, str) else value)
    return actions


def test_iam_read_policy_is_exactly_the_declared_read_actions():
    actions = policy_actions(DEPLOY / "iam-policy-read.json", "Statement", "Action")
    assert not any("*" in a for a in actions), "no wildcards: least privilege"
    assert actions == set(IAM_READ_ACTIONS) | EXTRA_IAM


def test_cam_read_policy_is_exactly_the_declared_read_actions():
    actions = policy_actions(DEPLOY / "cam-policy-read.json", "statement", "action")
    assert not any("*" in a for a in actions)
    assert actions == set(CAM_ACTIONS)


# ---- the fix writer: what bot/fixes declares, nothing more ---------------------------------------


def declared(kind: str) -> set:
    from bot.fixes.registry import FIXES

    return {p for m in FIXES.values() for p in m.PERMISSIONS if p.kind == kind}


def test_writer_rbac_is_exactly_what_the_fixes_declare():
    namespaces = ["shop", "payments"]
    docs = render({"fixes": {"enabled": True, "namespaces": namespaces, "kubeProxy": True}})
    expected: set[Grant] = set()
    for p in declared("rbac"):
        for ns in [p.namespace] if p.namespace else namespaces:
            expected.add((ns, p.api_group, p.resource, p.verb, p.resource_name))
    reads = grants(docs, "lbhealth-worker")  # previews and verification re-diagnose
    assert grants(docs, "lbhealth-writer") == expected | reads
    # a namespaced fix's permission is never cluster-wide, and kube-proxy's only by name
    assert all(g[0] != "*" for g in expected) and all(g[4] == "kube-proxy" for g in expected if g[2] == "daemonsets")
    without_kube_proxy = grants(render({"fixes": {"enabled": True, "namespaces": namespaces}}), "lbhealth-writer")
    assert without_kube_proxy == {g for g in expected if g[0] != "kube-system"} | reads
    assert not {g for g in grants(docs, "lbhealth-worker") if g[3] not in ("get", "list")}  # workers never write


def test_write_policies_are_exactly_the_declared_cloud_actions():
    iam = policy_actions(DEPLOY / "iam-policy-write.json", "Statement", "Action")
    cam = policy_actions(DEPLOY / "cam-policy-write.json", "statement", "action")
    assert iam == {p.action for p in declared("iam")} and cam == {p.action for p in declared("cam")}
    assert not any("*" in a for a in iam | cam)
    # writes belong to FIX-SG-RULE alone
    from bot.fixes.registry import FIXES

    cloud = {fid for fid, m in FIXES.items() if any(p.kind in ("iam", "cam") for p in m.PERMISSIONS)}
    assert cloud == {"FIX-SG-RULE"}
    # and the read policies hold no write
    reads = policy_actions(DEPLOY / "iam-policy-read.json", "Statement", "Action") | policy_actions(DEPLOY / "cam-policy-read.json", "statement", "action")
    assert not reads & (iam | cam - {"vpc:DescribeSecurityGroupPolicies"})


def writes_needing(fix_id: str) -> set[str]:
    """The fixes.* values that grant what a fix declares it writes."""
    from bot.fixes.registry import FIXES

    return {"cloudWrites" if p.kind in ("iam", "cam") else "kubeProxy" if p.namespace == "kube-system" else "namespaces"
            for p in FIXES[fix_id].PERMISSIONS}


@pytest.mark.parametrize("fix_id", FIX_IDS)
def test_a_fix_is_enabled_only_where_the_writer_may_make_its_writes(fix_id):
    """config.enabled_fixes (or an approval scope's) names a fix: the install fails unless the writer
    exists and holds the grant for each write the fix declares, and needs no other grant."""
    from bot.fixes.registry import FIXES

    assert set(FIXES) == set(FIX_IDS)
    granted = {"enabled": True, "namespaces": ["shop"], "kubeProxy": True, "cloudWrites": True}
    withheld = {"namespaces": [], "kubeProxy": False, "cloudWrites": False}
    for config in ({"enabled_fixes": [fix_id]}, {"approval": {"scopes": [{"namespace": "shop", "enabled_fixes": [fix_id]}]}}):
        assert render({"config": config, "fixes": granted})
        with pytest.raises(helm.HelmError, match="set fixes.enabled"):
            render({"config": config})
        for value, off in withheld.items():
            values = {"config": config, "fixes": {**granted, value: off}}
            if value in writes_needing(fix_id):
                with pytest.raises(helm.HelmError, match=f"{fix_id} .*fixes.{value}"):
                    render(values)
            else:
                assert render(values), value


def test_tencent_cloud_writes_name_the_writers_key():
    """Without it the writer would fall back to the read key, and FIX-SG-RULE fail only when applied."""
    tencent = {"enabled": True, "existingSecret": "lbhealth-tencent"}
    fixes = {"enabled": True, "cloudWrites": True}
    with pytest.raises(helm.HelmError, match="tencent.writerExistingSecret"):
        render({"tencent": tencent, "fixes": fixes})
    env = container_env({"tencent": {**tencent, "writerExistingSecret": "lbhealth-tencent-write"}, "fixes": fixes}, "lbhealth-writer")
    assert env["TENCENTCLOUD_SECRET_ID"]["secretKeyRef"]["name"] == "lbhealth-tencent-write"
    assert render({"tencent": tencent, "fixes": {"enabled": True}})  # no cloud writes: the read key serves re-diagnosis
