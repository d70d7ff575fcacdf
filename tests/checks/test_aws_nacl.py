"""AWS-NACL: first-match evaluation of the ACLs between LB subnets and target subnets."""

from __future__ import annotations

from checks.aws._net import nacl_verdict
from checks.model import Status
from tests import aws_factories as a
from tests.factories import run_check

POD, LBA, LBB = a.POD_SUBNET[0], a.LB_SUBNETS[0][0], a.LB_SUBNETS[1][0]


def split_acls(state, pod_entries, lb_entries=None):
    a.set_health(state, [a.thd("127.0.0.2", 80, "unhealthy", "Target.FailedHealthChecks")])
    state.aws.network_acls = [
        a.network_acl("acl-0pods0000000000001", [POD], pod_entries),
        a.network_acl("acl-0lb000000000000001", [LBA, LBB], lb_entries),
        a.network_acl("acl-0default000000001", [a.NODE_SUBNET[0], a.NODE2_SUBNET[0]], default=True),
    ]


def test_passes_with_default_acls():
    [finding] = run_check("AWS-NACL", a.world())
    assert finding.status == Status.PASS


def test_early_deny_beats_later_allow():
    state = a.world()
    split_acls(
        state,
        [
            a.acl_entry(90, "127.0.2.0/23", "deny", proto="6", ports=(80, 80)),
            a.acl_entry(100, "0.0.0.0/0"),
            a.acl_entry(100, "0.0.0.0/0", egress=True),
        ],
    )
    findings = run_check("AWS-NACL", state)
    fails = [x for x in findings if x.status == Status.FAIL]
    assert fails and all(x.cause == "network-acl" for x in fails)
    assert len(fails) == 1  # one finding for the ACL and port, one command per LB subnet
    assert (
        "acl-0pods0000000000001 denies ingress from 127.0.2.0/24, 127.0.3.0/24 on tcp 80" in fails[0].summary
    )
    assert "rule 90" in fails[0].evidence[0]
    step = fails[0].next_step
    assert (
        "--ingress --rule-number 89 --protocol tcp --port-range From=80,To=80 --cidr-block 127.0.2.0/24"
        in step
    )
    assert (
        "--ingress --rule-number 88 --protocol tcp --port-range From=80,To=80 --cidr-block 127.0.3.0/24"
        in step
    )


def test_lb_subnet_acl_without_return_traffic_on_ephemeral_ports():
    state = a.world()
    split_acls(
        state,
        None,
        [
            a.acl_entry(100, "0.0.0.0/0", egress=True),
            a.acl_entry(100, "0.0.0.0/0", proto="6", ports=(80, 80)),
        ],
    )
    findings = run_check("AWS-NACL", state)
    fails = [x for x in findings if x.status == Status.FAIL]
    assert fails
    assert "ingress from 127.0.0.2/32 on tcp 1024-65535" in fails[0].summary


def test_partial_range_warns():
    acl = a.network_acl("acl-1", [], [a.acl_entry(100, "127.0.2.0/25", proto="6", ports=(80, 80))])
    verdict, why = nacl_verdict(acl, egress=False, cidr="127.0.2.0/24", ports=(80, 80))
    assert verdict == "partial"
    verdict, _ = nacl_verdict(acl, egress=False, cidr="127.0.2.0/26", ports=(80, 80))
    assert verdict == "allow"
    verdict, _ = nacl_verdict(acl, egress=True, cidr="127.0.2.0/26", ports=(80, 80))
    assert verdict == "deny"


def test_skips_when_network_not_read():
    [finding] = run_check("AWS-NACL", a.world(network=False))
    assert finding.status == Status.SKIP


def test_healthy_targets_turn_a_deny_into_a_warning():
    state = a.world()
    split_acls(
        state,
        [
            a.acl_entry(90, "127.0.2.0/23", "deny", proto="6", ports=(80, 80)),
            a.acl_entry(100, "0.0.0.0/0"),
            a.acl_entry(100, "0.0.0.0/0", egress=True),
        ],
    )
    a.set_health(state, [a.thd("127.0.0.2", 80)])
    [finding] = run_check("AWS-NACL", state)
    assert finding.status == Status.WARN and "yet the targets pass" in finding.summary
    assert not finding.cause
