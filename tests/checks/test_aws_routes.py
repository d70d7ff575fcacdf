"""AWS-ROUTES: the local route between LB subnets and target subnets; main table fallback."""

from __future__ import annotations

from checks.model import Status
from tests import aws_factories as a
from tests.factories import run_check


def test_passes_through_main_table():
    [finding] = run_check("AWS-ROUTES", a.world())
    assert finding.status == Status.PASS
    assert any("main table" in e for e in finding.evidence)


def unhealthy_world():
    state = a.world()
    a.set_health(state, [a.thd("127.0.0.2", 80, "unhealthy", "Target.FailedHealthChecks")])
    return state


def test_blackhole_more_specific_route_fails():
    state = unhealthy_world()
    state.aws.route_tables.append(
        a.route_table(
            "rtb-0lb0000000000001",
            [s[0] for s in a.LB_SUBNETS],
            [a.route(a.VPC_CIDR), a.route("127.0.0.0/24", "eni-0gone", state="blackhole")],
        )
    )
    findings = run_check("AWS-ROUTES", state)
    fails = [x for x in findings if x.status == Status.FAIL]
    assert fails and fails[0].cause == "network-route"
    assert "rtb-0lb0000000000001" in fails[0].summary
    assert any("blackhole" in e for e in fails[0].evidence)


def test_appliance_route_warns():
    state = a.world()
    state.aws.route_tables.append(
        a.route_table(
            "rtb-0pods000000000001",
            [a.POD_SUBNET[0]],
            [a.route(a.VPC_CIDR), a.route("127.0.2.0/23", "eni-0firewall")],
        )
    )
    findings = run_check("AWS-ROUTES", state)
    assert any(x.status == Status.WARN and "eni-0firewall" in " ".join(x.evidence) for x in findings)


def test_missing_local_route_fails():
    state = unhealthy_world()
    state.aws.route_tables = [
        a.route_table("rtb-0main00000000001", [], [a.route("0.0.0.0/0", "igw-1")], main=True)
    ]
    findings = run_check("AWS-ROUTES", state)
    assert any(
        x.status == Status.FAIL and any("no local route for VPC CIDR 127.0.0.0/16" in e for e in x.evidence)
        for x in findings
    )


def test_skips_without_network_reads():
    state = a.world(network=False)
    [finding] = run_check("AWS-ROUTES", state)
    assert finding.status == Status.SKIP


def test_broken_route_in_front_of_healthy_targets_is_only_a_warning():
    state = a.world()
    state.aws.route_tables = [
        a.route_table("rtb-0main00000000001", [], [a.route("0.0.0.0/0", "igw-1")], main=True)
    ]
    findings = run_check("AWS-ROUTES", state)
    assert findings and all(x.status == Status.WARN for x in findings)
    assert any("yet the targets pass" in x.summary for x in findings)
