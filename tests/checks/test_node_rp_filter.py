"""NODE-RP-FILTER: strict rp_filter on TKE VPC-CNI direct-access nodes."""

from __future__ import annotations

from checks.collect.node import facts_from_text
from checks.model import Status
from tests import factories as f
from tests.collect.test_node import SYSCTL_TKE

DIRECT = {"service.cloud.tencent.com/direct-access": "true"}


def state_with(facts: dict, annotations=DIRECT, cloud: str | None = "tencent", **options):
    svc = f.service(annotations=annotations)
    state = f.make_state(svc, f.pod("web-1", labels={"app": "web"}, node="node-1"), f.node("node-1", provider_id="qcloud:///800002/ins-abc"),
                         **{"node": True, **options})
    if cloud == "tencent":
        state.tencent.load_balancers = [{"LoadBalancerId": "lb-1"}]
    state.node_facts.update(facts)
    state.reads_done.add("node")
    return state


def run(state):
    return f.run_check("NODE-RP-FILTER", state)


def test_fires_when_all_is_strict():
    text = SYSCTL_TKE.replace("net.ipv4.conf.all.rp_filter = 0", "net.ipv4.conf.all.rp_filter = 1")
    [fd] = run(state_with({"node-1": facts_from_text(text)}))
    assert fd.status == Status.FAIL and "TKE VPC-CNI direct access" in fd.summary
    assert "sysctl -w net.ipv4.conf.all.rp_filter=0" in fd.next_step
    assert "eth0" in fd.evidence[0] and "eth1" in fd.evidence[0]


def test_fires_when_a_secondary_eni_is_strict():
    text = SYSCTL_TKE.replace("net.ipv4.conf.eth1.rp_filter = 0", "net.ipv4.conf.eth1.rp_filter = 1")
    [fd] = run(state_with({"node-1": facts_from_text(text)}))
    assert fd.status == Status.FAIL and fd.next_step.startswith("On each listed node: `sysctl -w net.ipv4.conf.eth1.rp_filter=0`")


def test_passes_with_loose_or_off_ignoring_default():
    [fd] = run(state_with({"node-1": facts_from_text(SYSCTL_TKE)}))  # default.rp_filter = 1 is not an interface
    assert fd.status == Status.PASS
    loose = SYSCTL_TKE.replace("net.ipv4.conf.all.rp_filter = 0", "net.ipv4.conf.all.rp_filter = 2")
    [fd] = run(state_with({"node-1": facts_from_text(loose)}))
    assert fd.status == Status.PASS


def test_skip_without_direct_access_or_off_tencent():
    [fd] = run(state_with({"node-1": facts_from_text(SYSCTL_TKE)}, annotations={"service.kubernetes.io/loadbalance-id": "lb-1"}))
    assert fd.status == Status.SKIP and "NodePort" in fd.summary
    [fd] = run(state_with({}, annotations={"service.beta.kubernetes.io/aws-load-balancer-type": "external"}, cloud=None))
    assert fd.status == Status.SKIP and "TKE VPC-CNI" in fd.summary


def test_skip_when_node_checks_are_off():
    [fd] = run(state_with({}, node=False))
    assert fd.status == Status.SKIP and "Node checks are off" in fd.summary
