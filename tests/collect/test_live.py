"""live.collect: Kubernetes first, then only the cloud in front of the Service, overlapping wave 2.

Real clients against loopback servers: the fake Kubernetes API, moto's server for AWS, the
fake Tencent API. A counting HTTP server stands in for "the other cloud" so a test can prove
that nothing was sent to it.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from checks.collect.live import Clients, collect
from checks.model import Target
from checks.registry import READS, CheckSpec
from tests import factories as f
from tests.fakes.kube_api import FakeKubeAPI

ALL = CheckSpec(id="TEST-ALL-READS", title="t", seed="t", reads=tuple(sorted(READS)), layer="k8s", func=lambda s: None)


class CountingServer:
    """Answers 500 to anything and counts requests: a stand-in for an API that must not be called."""

    def __init__(self) -> None:
        self.count = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _any(self) -> None:
                server.count += 1
                self.send_response(500)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = _any  # noqa: N815

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def aws_env(monkeypatch):
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2", "AWS_ENDPOINT_URL_EC2"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("LBHEALTH_TENCENT_ENDPOINT", raising=False)
    for var in ("TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY", "TENCENTCLOUD_REGION"):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


@pytest.fixture(scope="module")
def moto_world():
    """An ALB with an ip target group (two pods registered) in a moto server on loopback."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
    ec2 = session.client("ec2", endpoint_url=url)
    elb = session.client("elbv2", endpoint_url=url)
    vpc = ec2.create_vpc(CidrBlock="127.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"127.0.{i}.0/24", AvailabilityZone=f"us-east-1{az}")["Subnet"]["SubnetId"] for i, az in enumerate("ab")]
    lb = elb.create_load_balancer(Name="k8s-shop-web-live", Subnets=subnets, Type="application")["LoadBalancers"][0]
    tg = elb.create_target_group(Name="k8s-shop-web-80-live", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip", HealthCheckPath="/healthz")["TargetGroups"][0]
    elb.register_targets(TargetGroupArn=tg["TargetGroupArn"], Targets=[{"Id": "127.0.0.2", "Port": 80}, {"Id": "127.0.0.3", "Port": 80}])
    elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80, DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}])
    yield {"url": url, "dns": lb["DNSName"], "tg": tg["TargetGroupArn"]}
    server.stop()


def aws_objects(world):
    ing = f.ingress("web", "shop", annotations={"alb.ingress.kubernetes.io/target-type": "ip", "alb.ingress.kubernetes.io/healthcheck-path": "/healthz"})
    ing["status"] = {"loadBalancer": {"ingress": [{"hostname": world["dns"]}]}}
    tgb = {
        "apiVersion": "elbv2.k8s.aws/v1beta1",
        "kind": "TargetGroupBinding",
        "metadata": {"name": "k8s-shop-web-80-live", "namespace": "shop"},
        "spec": {"serviceRef": {"name": "web", "port": 80}, "targetGroupARN": world["tg"], "targetType": "ip"},
    }
    return [
        f.service("web", "shop", type="NodePort"),
        ing,
        tgb,
        f.pod("web-1", "shop", ip="127.0.0.2", node="node-1"),
        f.pod("web-2", "shop", ip="127.0.0.3", node="node-2"),
        f.endpoint_slice(endpoints=[("127.0.0.2", True, "web-1", "node-1"), ("127.0.0.3", True, "web-2", "node-2")]),
        f.node("node-1", internal_ip="127.0.1.1", provider_id="aws:///us-east-1a/i-0000000000000001"),
        f.node("node-2", internal_ip="127.0.1.2", provider_id="aws:///us-east-1b/i-0000000000000002"),
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "aws-load-balancer-controller", "namespace": "kube-system"}, "spec": {"replicas": 1}, "status": {"readyReplicas": 1}},
    ]


def test_aws_service_reads_aws_and_never_tencent(aws_env, moto_world):
    import boto3

    aws_env.setenv("AWS_ENDPOINT_URL", moto_world["url"])
    tencent = CountingServer()
    try:
        with FakeKubeAPI(aws_objects(moto_world)) as kube:
            clients = Clients(k8s=kube.api_client(), cloud={"aws": {"session": boto3.Session(region_name="us-east-1")}, "tencent": {"endpoint": tencent.url}})
            state = collect(Target("shop", "web"), [ALL], options={"probe": False}, clients=clients)
            k8s_total = kube.total
    finally:
        tencent.stop()
    assert tencent.count == 0
    assert [tg["TargetGroupArn"] for tg in state.aws.target_groups] == [moto_world["tg"]]
    assert {d["Target"]["Id"] for d in state.aws.target_health[moto_world["tg"]]} == {"127.0.0.2", "127.0.0.3"}
    assert 0 < state.api_calls["aws"] <= 4 + 1
    assert state.api_calls["tencent"] == 0
    assert state.api_calls["k8s"] == k8s_total <= 12
    assert all("not applicable" in state.skipped_reads[r] for r in READS if r.startswith("tencent."))
    assert state.did_read("aws.elbv2") and state.did_read("k8s.pods")
    assert "probes are off" in state.skipped_reads["probe"] or "--no-probe" in state.skipped_reads["probe"]


def tencent_setup(latency_s: float = 0.0):
    from tests import tencent_factories as tf
    from tests.fakes.tencent_api import FakeTencentAPI

    sc = tf.scenario()
    api = FakeTencentAPI(latency=latency_s).start()
    sc.load_into(api.cloud)
    return sc, api


def test_tencent_service_reads_tencent_and_never_aws(aws_env):
    from tencentcloud.common import credential

    aws = CountingServer()
    aws_env.setenv("AWS_ENDPOINT_URL", aws.url)
    sc, tc = tencent_setup()
    try:
        with FakeKubeAPI(sc.objects) as kube:
            clients = Clients(k8s=kube.api_client(), cloud={"tencent": {"credential": credential.Credential("AKIDtest", "secret"), "region": "ap-guangzhou", "endpoint": tc.url}})
            state = collect(Target("shop", "web"), [ALL], options={"probe": False}, clients=clients)
            k8s_total = kube.total
    finally:
        tc.stop()
        aws.stop()
    assert aws.count == 0 and state.api_calls["aws"] == 0
    assert [lb["LoadBalancerId"] for lb in state.tencent.load_balancers] == ["lb-web"]
    assert state.tencent.target_health
    assert state.api_calls["tencent"] == tc.count() <= 4
    assert state.api_calls["k8s"] == k8s_total <= 12
    assert all("not applicable" in state.skipped_reads[r] for r in READS if r.startswith("aws."))
    assert "k8s.lbc" in state.skipped_reads  # no controller read for a CLB


def test_tencent_endpoint_from_the_environment(aws_env):
    from tencentcloud.common import credential

    sc, tc = tencent_setup()
    aws_env.setenv("LBHEALTH_TENCENT_ENDPOINT", tc.url)
    try:
        with FakeKubeAPI(sc.objects) as kube:
            clients = Clients(k8s=kube.api_client(), cloud={"tencent": {"credential": credential.Credential("AKIDtest", "secret"), "region": "ap-guangzhou"}})
            state = collect(Target("shop", "web"), [ALL], options={"probe": False}, clients=clients)
    finally:
        tc.stop()
    assert tc.count() == state.api_calls["tencent"] > 0


def test_cloud_collection_overlaps_kubernetes_wave_two(aws_env):
    """With 50 ms per call, the CLB reads start while the pods are still being listed."""
    from tencentcloud.common import credential

    sc, tc = tencent_setup(latency_s=0.05)
    try:
        with FakeKubeAPI(sc.objects, latency_ms=50) as kube:
            clients = Clients(k8s=kube.api_client(), cloud={"tencent": {"credential": credential.Credential("AKIDtest", "secret"), "region": "ap-guangzhou", "endpoint": tc.url}})
            collect(Target("shop", "web"), [ALL], options={"probe": False}, clients=clients)
            (pods,) = kube.calls(verb="list", resource="pods", namespace="shop")
            wave1_end = max(r.finished for r in kube.calls() if r.resource != "pods" or r.namespace != "shop")
            first_cloud = min(c.started for c in tc.calls)
    finally:
        tc.stop()
    assert first_cloud < pods.finished, "the cloud reads wait for Kubernetes wave 2"
    assert pods.started < wave1_end + 0.15  # wave 2 starts when wave 1 ends, not after the cloud


def test_no_cloud_detected_skips_both_clouds(aws_env):
    aws = CountingServer()
    aws_env.setenv("AWS_ENDPOINT_URL", aws.url)
    objs = [
        f.service("web", "shop", type="ClusterIP"),
        f.pod("web-1", "shop", ip="127.0.0.2"),
        f.node("node-1", provider_id="kind://docker/kind/kind-control-plane"),
    ]
    try:
        with FakeKubeAPI(objs) as kube:
            state = collect(Target("shop", "web"), [ALL], options={"probe": False}, clients=Clients(k8s=kube.api_client()))
    finally:
        aws.stop()
    assert aws.count == 0
    for r in READS:
        if r.startswith(("aws.", "tencent.")):
            assert "no cloud load balancer detected" in state.skipped_reads[r]


def test_runner_diagnose_counts_what_the_servers_saw(aws_env):
    from checks.runner import diagnose

    objs = [
        f.service("web", "shop", selector={"app": "web"}, type="ClusterIP"),
        f.pod("web-1", "shop", labels={"app": "other"}, ip="127.0.0.2"),
        f.node("node-1", provider_id="kind://docker/kind/kind-control-plane"),
    ]
    with FakeKubeAPI(objs) as kube:
        report, state = diagnose(Target("shop", "web"), clients=Clients(k8s=kube.api_client()), probe=False)
        total = kube.total
        near_miss = kube.calls(verb="list", resource="pods", namespace="shop")
    assert report.api_calls["k8s"] == total == state.api_calls["k8s"]
    assert [r.query.get("labelSelector") for r in near_miss] == ["app=web", None]
    assert report.api_calls["aws"] == report.api_calls["tencent"] == 0
    selector = next(x for x in report.findings if x.check_id == "K8S-SELECTOR")
    assert selector.status == "fail"


# ---- the CLI contract: live diagnosis through a kubeconfig context -------------------------------


def _kubeconfig(path, server: str, context: str) -> str:
    import yaml

    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": {"server": server}}],
        "users": [{"name": context, "user": {"token": "t"}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
        "current-context": context,
    }
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def test_cli_exits_3_when_the_api_server_cannot_be_reached(tmp_path, aws_env, capsys):
    import socket

    from bot.cli import main

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    aws_env.setenv("KUBECONFIG", _kubeconfig(tmp_path / "config", f"http://127.0.0.1:{port}", "dead"))
    assert main(["diagnose", "shop/web", "--context", "dead", "--no-probe"]) == 3
    err = capsys.readouterr().err
    assert f"could not run: cannot reach the Kubernetes API at http://127.0.0.1:{port}: connection refused" in err
    assert "Traceback" not in err


def test_cli_live_diagnosis_json_counts_the_calls(tmp_path, aws_env, capsys):
    import json

    from bot.cli import main

    objs = [
        f.service("web", "shop", selector={"app": "web"}, type="ClusterIP"),
        f.pod("web-1", "shop", labels={"app": "web-v2"}, ip="127.0.0.2"),
        f.node("node-1", provider_id="kind://docker/kind/kind-control-plane"),
    ]
    with FakeKubeAPI(objs) as kube:
        aws_env.setenv("KUBECONFIG", _kubeconfig(tmp_path / "config", kube.url, "fake-live"))
        code = main(["diagnose", "shop/web", "--context", "fake-live", "--format", "json", "--no-probe"])
        total = kube.total
    out = json.loads(capsys.readouterr().out)
    assert code == 1
    assert out["api_calls"] == {"k8s": total, "aws": 0, "tencent": 0}
    assert out["verdict"]["check_id"] == "K8S-SELECTOR"
