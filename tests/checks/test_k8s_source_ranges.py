"""K8S-SOURCE-RANGES: NodePorts open to 0.0.0.0/0 on public nodes (security warning)."""

from checks.model import Status
from tests.factories import make_state, node, pod, run_check, service

ID = "K8S-SOURCE-RANGES"
NLB = {"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"}


def test_public_nodes_without_ranges_warn_and_support_nothing():
    state = make_state(service(annotations=NLB), pod(), node("node-1", external_ip="198.51.100.7"), node("node-2", internal_ip="127.0.1.2"))
    [f] = run_check(ID, state)
    assert f.status == Status.WARN
    assert f.supports == () and f.cause == "" and f.fix is None
    assert "NodePort 30080" in f.summary and "0.0.0.0/0" in f.summary and "not a health-check cause" in f.summary
    assert "nodes with ExternalIP: node-1 (198.51.100.7)" in f.evidence
    assert "loadBalancerSourceRanges" in f.next_step


def test_ranges_set_pass():
    svc = service(annotations=NLB, loadBalancerSourceRanges=["143.231.0.0/16"])
    [f] = run_check(ID, make_state(svc, pod(), node("node-1", external_ip="198.51.100.7")))
    assert f.status == Status.PASS and "143.231.0.0/16" in f.summary
    assert any(e.endswith("= 143.231.0.0/16") for e in f.evidence), f.evidence  # the list in words, not a Python repr


def test_annotation_form_counts():
    svc = service(annotations=dict(NLB, **{"service.beta.kubernetes.io/load-balancer-source-ranges": "10.0.0.0/8, 192.168.0.0/16"}))
    [f] = run_check(ID, make_state(svc, pod(), node("node-1", external_ip="198.51.100.7")))
    assert f.status == Status.PASS and "10.0.0.0/8, 192.168.0.0/16" in f.summary


def test_explicit_world_range_is_still_open():
    svc = service(annotations=NLB, loadBalancerSourceRanges=["0.0.0.0/0"])
    [f] = run_check(ID, make_state(svc, pod(), node("node-1", external_ip="198.51.100.7")))
    assert f.status == Status.WARN
    assert not any("['" in e for e in f.evidence), f.evidence  # the list in words, not a Python repr


def test_private_nodes_pass():
    [f] = run_check(ID, make_state(service(annotations=NLB), pod(), node("node-1")))
    assert f.status == Status.PASS and "No node has a public IP" in f.summary


def test_skips_and_errors():
    [f] = run_check(ID, make_state(service(type="NodePort"), pod()))
    assert f.status == Status.SKIP
    [f] = run_check(ID, make_state(service(annotations={"service.kubernetes.io/loadbalance-id": "lb-1"}), pod()))
    assert f.status == Status.SKIP and "TKE" in f.summary
    state = make_state(service(annotations=NLB), pod(), reads={"k8s.service"})
    [f] = run_check(ID, state)
    assert f.status == Status.SKIP and "not read in this diagnosis" in f.summary
    state = make_state(service(annotations=NLB), pod())
    state.read_errors["k8s.nodes"] = "forbidden: cannot list nodes"
    [f] = run_check(ID, state)
    assert f.status == Status.ERROR and "Grant RBAC verb 'list' on 'nodes'" in f.next_step
