"""A whole live diagnosis of a TKE Service: the Kubernetes client against the fake API server,
the tencentcloud SDK against the fake Tencent API, both over HTTP on loopback, with latency."""

from __future__ import annotations

import pytest

from checks.collect.live import Clients
from checks.model import Status, Target
from checks.runner import diagnose
from tests import tencent_factories as tf
from tests.fakes.kube_api import FakeKubeAPI
from tests.fakes.tencent_api import FakeTencentAPI


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch):
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)


def run(sc: tf.Scenario, latency: float = 0.0, **kw):
    with FakeKubeAPI(sc.objects, latency_ms=latency * 1000) as kube, FakeTencentAPI(latency=latency) as tc:
        sc.load_into(tc.cloud)
        client = kube.api_client()
        try:
            clients = Clients(k8s=client, cloud={"tencent": {"credential": ("AKIDtest", "secret"), "region": "ap-guangzhou", "endpoint": tc.url}})
            report, state = diagnose(Target.parse("shop/web"), probe=False, clients=clients, **kw)
        finally:
            client.close()
        return report, state, tc


def test_healthy_tke_service_four_tencent_calls():
    report, state, tc = run(tf.scenario())
    assert report.api_calls["tencent"] == tc.count() == 4
    assert sorted(tc.actions()) == ["DescribeListeners", "DescribeLoadBalancers", "DescribeTargetHealth", "DescribeTargets"]
    by_id = {f.check_id: f for f in report.findings}
    assert by_id["TC-MAP"].status == Status.PASS
    assert by_id["TC-TARGET-HEALTH"].status == Status.PASS
    assert by_id["TC-SG"].status == Status.SKIP


def test_security_group_dropping_the_vip_is_the_root_cause_within_budget():
    sc = tf.scenario(healthy=False, hc=tf.health_check(SourceIpType=0), node_rules=[tf.sg_rule("DROP", "0.0.0.0/0", "ALL", "ALL")])
    report, state, tc = run(sc, latency=0.05)
    clb_calls = [c for c in tc.calls if c.version == "2018-03-17"]
    assert len(clb_calls) == 4
    assert report.api_calls["tencent"] == tc.count() == 7
    assert report.verdict.check_id == "TC-SG", [(f.check_id, f.status, f.score) for f in report.findings[:5]]
    assert report.root_cause.fix.id == "FIX-SG-RULE"
    assert report.duration_ms < 1500
