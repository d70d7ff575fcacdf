"""NODE-FORWARDING over node facts (from the reader pod or a dump)."""

from __future__ import annotations

from checks.collect.node import facts_from_text
from checks.model import Status
from tests import factories as f
from tests.collect.test_node import SYSCTL_TKE


def state_with(facts: dict, **options):
    state = f.make_state(f.service(), f.pod("web-1", labels={"app": "web"}), f.node("node-1"), **{"node": True, **options})
    state.node_facts.update(facts)
    state.reads_done.add("node")
    return state


def run(state):
    return f.run_check("NODE-FORWARDING", state)


def test_fires_when_ip_forward_or_an_interface_is_off():
    bad = SYSCTL_TKE.replace("net.ipv4.ip_forward = 1", "net.ipv4.ip_forward = 0").replace(
        "net.ipv4.conf.eth1.forwarding = 1", "net.ipv4.conf.eth1.forwarding = 0")
    [fd] = run(state_with({"node-1": facts_from_text(bad), "node-2": facts_from_text(SYSCTL_TKE)}))
    assert fd.status == Status.FAIL and "node-1" in fd.summary and "node-2" not in fd.summary
    assert "sysctl -w net.ipv4.conf.eth1.forwarding=1 && sysctl -w net.ipv4.ip_forward=1" in fd.next_step
    assert "net.ipv4.ip_forward=1' >> /etc/sysctl.conf" in fd.next_step
    assert fd.evidence[0] == "node node-1: net.ipv4.conf.eth1.forwarding = 0, net.ipv4.ip_forward = 0"


def test_passes_ignoring_mc_forwarding_and_ipv6():
    [fd] = run(state_with({"node-1": facts_from_text(SYSCTL_TKE)}))
    assert fd.status == Status.PASS
    assert fd.evidence == ["node node-1: net.ipv4.ip_forward and all 5 conf.*.forwarding = 1"]


def test_skip_when_node_checks_are_off():
    [fd] = run(state_with({}, node=False))
    assert fd.status == Status.SKIP and "Node checks are off" in fd.summary


def test_skip_when_not_read_and_error_when_every_node_failed():
    s = state_with({})
    s.reads_done.discard("node")
    s.skipped_reads["node"] = "offline dump: node facts come only from sysctl/iptables-save files in the dump"
    [fd] = run(s)
    assert fd.status == Status.SKIP and "offline dump" in fd.summary
    [fd] = run(state_with({"node-1": {"node": "node-1", "error": "forbidden: the worker needs create/get/delete pods"}}))
    assert fd.status == Status.ERROR and "forbidden" in fd.evidence[0]


def test_odd_values_do_not_crash():
    [fd] = run(state_with({"node-1": {"sysctl": {"net.ipv4.ip_forward": "yes"}}, "node-2": "junk"}))
    assert fd.status == Status.FAIL
