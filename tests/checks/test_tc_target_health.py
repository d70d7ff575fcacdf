"""TC-TARGET-HEALTH: unhealthy CLB targets tied to pods and nodes."""

from __future__ import annotations

from checks.model import Status
from tests import tencent_factories as tf
from tests.factories import run_check


def one(state, *, odd=False):
    [finding] = run_check("TC-TARGET-HEALTH", state, odd=odd)
    return finding


def test_all_healthy_passes():
    finding = one(tf.scenario().state())
    assert finding.status == Status.PASS
    assert "All 2 targets" in finding.summary


def test_all_dead_says_clb_forwards_to_all():
    finding = one(tf.scenario(healthy=False).state())
    assert finding.status == Status.FAIL
    assert "forwards to all of them" in finding.summary
    assert any("127.0.1.1:30080 HealthStatus false, HealthStatusDetail Dead" in e and "node node-1 (ins-node1)" in e for e in finding.evidence)
    assert "healthcheck-path" in finding.supports and "network-sg" in finding.supports
    assert finding.next_step.startswith("tccli clb DescribeTargetHealth --region ap-guangzhou --LoadBalancerIds '[\"lb-web\"]'")


def test_some_nodes_dead_supports_per_node_causes():
    finding = one(tf.scenario(healthy=[True, False]).state())
    assert finding.status == Status.FAIL
    assert "1 of 2" in finding.summary and "node node-2" in finding.summary
    assert "kube-proxy" in finding.supports and "healthcheck-path" not in finding.supports


def test_direct_access_ties_pods():
    finding = one(tf.scenario(direct=True, healthy=[False, True]).state())
    assert finding.status == Status.FAIL
    assert "pod shop/web-1" in finding.summary
    assert any("127.0.0.2:80" in e and "pod shop/web-1 on node node-1" in e for e in finding.evidence)


def test_unknown_only_warns_and_stranger_is_flagged():
    sc = tf.scenario(healthy=False, detail="Unknown")
    finding = one(sc.state())
    assert finding.status == Status.WARN and "Unknown" in finding.summary
    st = tf.scenario(healthy=[True, False]).state()
    th = st.tencent.target_health[0]["Listeners"][0]["Rules"][0]["Targets"][1]
    th.update({"IP": "127.0.0.99", "TargetId": "ins-gone"})
    finding = one(st)
    assert any("CVM ins-gone (no node of this cluster)" in e for e in finding.evidence)


def test_local_traffic_policy_node_without_pod_fails_by_design():
    st = tf.scenario(healthy=[True, False], service_kw={"external_traffic_policy": "Local"}).state()
    st.k8s.objects["Pod"] = [p for p in st.k8s.objects["Pod"] if p["metadata"]["name"] != "web-2"]
    finding = one(st)
    assert finding.supports == ("traffic-policy",)
    assert any("fails by design" in e for e in finding.evidence)


def test_odd_values_do_not_crash():
    st = tf.scenario().state()
    th = st.tencent.target_health[0]["Listeners"][0]["Rules"][0]["Targets"]
    th[0].update({"HealthStatus": "false", "Port": "30080", "HealthStatusDetail": None, "HealthStatusDetial": "Dead"})
    th.append(None)
    st.tencent.target_health.append({"LoadBalancerId": "lb-web", "Listeners": None})
    finding = one(st, odd=True)
    assert finding.status == Status.FAIL
    assert any("Dead" in e for e in finding.evidence)


def test_no_target_registered_fails():
    st = tf.scenario().state()
    st.tencent.target_health[0]["Listeners"][0]["Rules"][0]["Targets"] = []
    finding = one(st)
    assert finding.status == Status.FAIL and "no backend registered" in finding.summary


def test_skip_when_not_read():
    st = tf.scenario().state(reads={"tencent.clb"})
    st.skipped_reads["tencent.target_health"] = "no CLB was found for the Service (see TC-MAP)"
    finding = one(st)
    assert finding.status == Status.SKIP and "no CLB was found" in finding.summary
