"""NODE-IPTABLES over parsed iptables-save output (real-looking kube-proxy and hardened nodes)."""

from __future__ import annotations

from checks.collect.node import facts_from_text
from checks.model import Status
from tests import factories as f
from tests.collect.test_node import IPTABLES_HARDENED, IPTABLES_KUBE_PROXY


def tencent_state(facts: dict, *, direct: bool = False, local: bool = False, source_ip_type: int | None = 1, **options):
    ann = {"service.cloud.tencent.com/direct-access": "true"} if direct else {"service.kubernetes.io/loadbalance-id": "lb-1"}
    extra = {"healthCheckNodePort": 32456} if local else {}
    svc = f.service(ports=[{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP", "nodePort": 30080}], annotations=ann,
                    external_traffic_policy="Local" if local else None, **extra)
    pod = f.pod("web-1", labels={"app": "web"}, node="node-1",
                containers=[f.container(ports=[{"name": "http", "containerPort": 8080, "protocol": "TCP"}])])
    state = f.make_state(svc, pod, f.node("node-1"), **{"node": True, **options})
    hc = {"HealthSwitch": 1, "CheckType": "TCP", "TimeOut": 2, "IntervalTime": 5}
    if source_ip_type is not None:
        hc["SourceIpType"] = source_ip_type
    if local:
        hc["CheckPort"] = 32456
    state.tencent.load_balancers = [{"LoadBalancerId": "lb-1", "LoadBalancerVips": ["10.0.0.100"]}]  # not probed: CLB VIP as data
    state.tencent.listeners = {"lb-1": [{"ListenerId": "lbl-1", "Protocol": "TCP", "Port": 80, "HealthCheck": hc}]}
    state.node_facts.update(facts)
    state.reads_done.add("node")
    return state


def run(state):
    return f.run_check("NODE-IPTABLES", state)


def node_facts(text: str) -> dict:
    return {"node-1": facts_from_text(text)}


def test_passes_on_a_kube_proxy_node():
    [fd] = run(tencent_state(node_facts(IPTABLES_KUBE_PROXY), local=True))
    assert fd.status == Status.PASS, fd.evidence
    assert any("INPUT admits 100.64.0.0/10 to healthCheckNodePort 32456 (ACCEPT by" in e for e in fd.evidence)


def test_fires_on_input_not_admitting_clb_probe_source():
    [fd] = run(tencent_state(node_facts(IPTABLES_HARDENED), local=True))
    assert fd.status == Status.FAIL
    assert any("INPUT does not admit 100.64.0.0/10 (CLB SourceIpType 1) to healthCheckNodePort 32456" in e
               for e in fd.evidence)
    assert "iptables -I INPUT -p tcp -s 100.64.0.0/10 --dport 32456 -j ACCEPT" in fd.next_step
    assert fd.cause == "network-sg"


def test_fires_on_forward_policy_drop_with_direct_access():
    [fd] = run(tencent_state(node_facts(IPTABLES_HARDENED), direct=True))
    assert fd.status == Status.FAIL and fd.summary.startswith("On node node-1: FORWARD policy is DROP (must be ACCEPT)")
    assert "iptables -P FORWARD ACCEPT" in fd.next_step
    # the extra chains are listed, the known ones with their owner
    assert any("FORWARD jumps to DOCKER-ISOLATION-STAGE-1 (Docker)" in e for e in fd.evidence)
    assert any("FORWARD jumps to SEC-FILTER," in e for e in fd.evidence)
    # SEC-FILTER rejects the CLB range on the pod port 8080
    assert any("FORWARD rejects 100.64.0.0/10 to pod port 8080" in e for e in fd.evidence)


def test_warns_on_extra_cni_chain_only():
    text = IPTABLES_KUBE_PROXY.replace(":KUBE-SERVICES - [0:0]\n", ":KUBE-SERVICES - [0:0]\n:cali-FORWARD - [0:0]\n").replace(
        '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall"',
        '-A FORWARD -m comment --comment "cali:wUHhoiAYhphO9Mso" -j cali-FORWARD\n'
        '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall"', 1)
    [fd] = run(tencent_state(node_facts(text)))
    assert fd.status == Status.WARN and "cali-FORWARD (Calico)" in fd.summary


def test_vip_probe_source_when_source_ip_type_is_0():
    [fd] = run(tencent_state(node_facts(IPTABLES_HARDENED), local=True, source_ip_type=0))
    assert any("10.0.0.100/32" in e for e in fd.evidence)  # not probed: the VIP is evaluated instead of 100.64.0.0/10


def test_skip_and_error():
    [fd] = run(tencent_state({}, node=False))
    assert fd.status == Status.SKIP and "Node checks are off" in fd.summary
    [fd] = run(tencent_state({"node-1": {"node": "node-1", "sysctl": {"net.ipv4.ip_forward": "1"},
                                          "iptables_error": "iptables-save failed in the reader pod (NET_ADMIN denied by policy?)"}}))
    assert fd.status == Status.ERROR and "NET_ADMIN" in fd.evidence[0]


def test_odd_facts_do_not_crash():
    [fd] = run(tencent_state({"node-1": {"iptables": {"policies": None, "rules": {"INPUT": [{"raw": "x", "dports": [["a", "b"]]}]}}}}))
    assert fd.status in (Status.PASS, Status.WARN, Status.FAIL)
