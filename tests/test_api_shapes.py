"""Fixtures, fake API answers and bundled examples have the shapes the real APIs return.

Checked against the SDKs' own models (tests/shapes.py): botocore's output shapes, the
tencentcloud SDK model classes and the kubernetes client's models. Every check test's State is
validated the same way by tests.factories.run_check (unless the test feeds odd input on purpose),
and the fake Tencent API refuses a request parameter its SDK request model lacks (UnknownParameter)
or of the wrong type (InvalidParameter), as the real API does.

Not covered, because no SDK models them: CloudWatch alarm notifications inside SNS messages and
Tencent Cloud Monitor callbacks (tests/webhooks/payloads.py follows the providers' documented
examples), node facts (sysctl/iptables text) and TargetGroupBinding (a CRD).
AWS answers in the collector tests come from moto, or from botocore's Stubber, which validates
each stubbed response against the same output shape before serving it.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from tencentcloud.common import credential
from tencentcloud.common.common_client import CommonClient
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile

from checks.collect.dump import parse_documents
from tests import aws_factories as a
from tests import factories as f
from tests import tencent_factories as tf
from tests.fakes.kube_api import FakeKubeAPI
from tests.fakes.tencent_api import FakeTencentAPI
from tests.shapes import (
    aws_member_shape,
    aws_problems,
    document_problems,
    k8s_object_problems,
    k8s_problems,
    state_problems,
    tencent_model,
    tencent_problems,
)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_FILES = sorted(p for p in (ROOT / "examples").rglob("*") if p.is_file())


# ---- the validators find what is wrong (else every test below would pass vacuously) -------------


def test_validators_catch_the_wrong_shapes_that_once_hid_bugs():
    entry = tencent_model("vpc", "NetworkAclEntry")
    assert tencent_problems(entry, {"Action": "DROP", "Description": "x"}) == []
    [problem] = tencent_problems(entry, {"Action": "DROP", "PolicyDescription": "x"})
    assert "PolicyDescription: no such attribute in NetworkAclEntry" in problem
    assert tencent_problems(tencent_model("clb", "TargetHealth"), {"Port": "80"}) == [
        "Port is the string '80'; tccli prints an integer there"]

    thd = aws_member_shape("elbv2", "DescribeTargetHealth", "TargetHealthDescriptions", "member")
    ok = {"Target": {"Id": "i-0abc", "Port": 30080}, "TargetHealth": {"State": "unhealthy", "Reason": "Target.Timeout"}}
    assert aws_problems(thd, ok) == []
    bad = {"Target": {"Id": "i-0abc", "Port": "30080"}, "TargetHealth": {"State": "unhealthy", "Reason": "Target.TimedOut"}}
    problems = aws_problems(thd, bad)
    assert any("Target.Port is the string '30080'; the AWS CLI prints an integer there" in p for p in problems)
    assert any("'Target.TimedOut' is not one of" in p and "Target.Timeout" in p for p in problems)

    svc = f.service()
    assert k8s_object_problems(svc) == []
    svc["spec"]["selector"] = ["app=web"]
    assert k8s_object_problems(svc) == ["$.spec.selector: list, expected an object (Dict[str, str])"]
    assert "V1ContainerPort" in k8s_problems("V1ContainerPort", {"containerPort": 80, "hostPorts": 1})[0]
    required = k8s_problems("V1NodeSystemInfo", {"osImage": "Amazon Linux 2"})
    assert any("architecture" in p for p in required), required


# ---- bundled examples ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=[str(p.relative_to(ROOT / "examples")) for p in EXAMPLE_FILES])
def test_every_example_file_is_what_the_cli_prints(path):
    docs = parse_documents(path)
    assert not isinstance(docs, str), docs
    problems = [p for i, doc in enumerate(docs) for p in document_problems(doc, f"{path.name}#{i}")]
    assert not problems, "\n".join(problems)


# ---- the factories the check tests build from --------------------------------------------------------


AWS_WORLDS = list(itertools.product(("network", "application"), ("ip", "instance"), ("Cluster", "Local")))


@pytest.mark.parametrize("lb_type,target_type,policy", AWS_WORLDS)
def test_aws_factory_worlds(lb_type, target_type, policy):
    state = a.world(lb_type=lb_type, target_type=target_type, external_traffic_policy=policy)
    tid, port = ("127.0.0.2", 80) if target_type == "ip" else (a.INSTANCE_1, 30080)
    a.set_health(state, [a.thd(tid, port, "unhealthy", reason) for reason in ("Target.Timeout", "Target.ResponseCodeMismatch")])
    assert state_problems(state) == []


@pytest.mark.parametrize("direct", [False, True])
@pytest.mark.parametrize("protocol", ["TCP", "UDP", "HTTP", "HTTPS"])
def test_tencent_factory_scenarios(direct, protocol):
    sc = tf.scenario(direct=direct, protocol=protocol, healthy=[False, True],
                     lb=tf.clb(snat_pro=True, snat_ips=("127.0.0.61",)),
                     acl=tf.network_acl(ingress=[tf.acl_entry("DROP", "100.64.0.0/10", desc="no NAT")]))
    assert state_problems(sc.state()) == []


def test_kubernetes_factory_objects():
    objects = [
        f.service(hostname="k8s-shop-web-0123456789.elb.us-east-1.amazonaws.com", healthCheckNodePort=32456),
        f.pod("ok"), f.pod("pending", phase="Pending", ready=False),
        f.pod("crash", ready=False, restarts=5, waiting_reason="CrashLoopBackOff", last_terminated_reason="OOMKilled",
              readiness_gates=["target-health.elbv2.k8s.aws/k8s-shop-web"]),
        f.pod("probed", containers=[f.container(readiness_path="/healthz", readiness_port="http")]),
        f.node("node-1", external_ip="127.0.2.1"), f.endpoint_slice(), f.ingress(port="http", host="shop.example"),
        f.event("Pod", "crash"), f.daemonset(), f.deployment("aws-load-balancer-controller", ready=0),
    ]
    problems = [p for obj in objects for p in k8s_object_problems(obj, f"{obj['kind']} {obj['metadata']['name']}")]
    assert not problems, "\n".join(problems)


# ---- the fake APIs answer what the real ones would --------------------------------------------------------

TENCENT_CALLS = [  # (product, version, action, params)
    ("clb", "2018-03-17", "DescribeLoadBalancers", {"LoadBalancerIds": [tf.LB_ID]}),
    ("clb", "2018-03-17", "DescribeListeners", {"LoadBalancerId": tf.LB_ID}),
    ("clb", "2018-03-17", "DescribeTargets", {"LoadBalancerId": tf.LB_ID}),
    ("clb", "2018-03-17", "DescribeTargetHealth", {"LoadBalancerIds": [tf.LB_ID]}),
    ("vpc", "2017-03-12", "DescribeSecurityGroupPolicies", {"SecurityGroupId": tf.NODE_SG}),
    ("vpc", "2017-03-12", "DescribeNetworkAcls", {}),
    ("vpc", "2017-03-12", "DescribeNetworkInterfaces", {}),
    ("vpc", "2017-03-12", "DescribeSubnets", {}),
    ("cvm", "2017-03-12", "DescribeInstances", {}),
]


@pytest.mark.parametrize("protocol", ["TCP", "HTTP"])
@pytest.mark.parametrize("direct", [False, True])
def test_fake_tencent_api_answers_with_the_sdk_response_models(protocol, direct, monkeypatch):
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    monkeypatch.delenv("http_proxy", raising=False)
    sc = tf.scenario(direct=direct, protocol=protocol)
    with FakeTencentAPI() as fake:
        sc.load_into(fake.cloud)
        fake.cloud.subnets.append({"SubnetId": tf.SUBNET, "VpcId": tf.VPC, "CidrBlock": "127.0.0.0/16", "SubnetName": "nodes"})
        profile = ClientProfile(httpProfile=HttpProfile(protocol="http", endpoint=fake.url.split("://", 1)[1]))
        problems = []
        for product, version, action, params in TENCENT_CALLS:
            sdk = CommonClient(product, version, credential.Credential("AKIDtest", "secret"), "ap-guangzhou", profile=profile)
            answer = sdk.call_json(action, params)["Response"]
            assert "Error" not in answer, answer
            problems += tencent_problems(tencent_model(product, f"{action}Response"), answer, action)
    assert not problems, "\n".join(problems)


def test_fake_kube_api_answers_with_the_client_models():
    sc = tf.scenario()
    objects = [*sc.objects, f.ingress(), f.event("Pod", "web-1"), f.daemonset(), f.deployment("aws-load-balancer-controller")]
    paths = {
        "/api/v1/namespaces/shop/services/web": "V1Service",
        "/api/v1/namespaces/shop/pods?labelSelector=app%3Dweb": "V1PodList",
        "/api/v1/nodes": "V1NodeList",
        "/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dweb": "V1EndpointSliceList",
        "/apis/networking.k8s.io/v1/namespaces/shop/ingresses": "V1IngressList",
        "/api/v1/namespaces/shop/events?fieldSelector=type%3DWarning": "CoreV1EventList",
        "/apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy": "V1DaemonSet",
        "/apis/apps/v1/namespaces/kube-system/deployments": "V1DeploymentList",
    }
    fake = FakeKubeAPI(objects)
    problems = []
    for path, model in paths.items():
        status, _ctype, body, _rec = fake.handle("GET", path, {"accept": "application/json"}, b"")
        assert status == 200, (path, body[:200])
        answer = json.loads(body)
        problems += [p.replace("$", path, 1) for p in k8s_problems(model, answer)]  # a List's items too
    assert not problems, "\n".join(problems)


def test_fake_tencent_api_refuses_parameters_the_real_api_refuses(monkeypatch):
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    monkeypatch.delenv("http_proxy", raising=False)
    with FakeTencentAPI() as fake:
        tf.scenario().load_into(fake.cloud)
        profile = ClientProfile(httpProfile=HttpProfile(protocol="http", endpoint=fake.url.split("://", 1)[1]))
        sdk = CommonClient("clb", "2018-03-17", credential.Credential("AKIDtest", "secret"), "ap-guangzhou", profile=profile)
        for params, code in [({"LoadBalancerId": tf.LB_ID, "ListenerID": ["lbl-80"]}, "UnknownParameter"),
                             ({"LoadBalancerId": tf.LB_ID, "Port": "80"}, "InvalidParameter")]:
            with pytest.raises(TencentCloudSDKException) as err:
                sdk.call_json("DescribeListeners", params)
            assert err.value.code == code, err.value
