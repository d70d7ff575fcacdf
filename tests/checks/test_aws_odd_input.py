"""Every check survives odd, partial or hostile AWS data without crashing (no `error` finding)."""

from __future__ import annotations

import pytest

from checks.model import Status
from checks.registry import default_registry
from tests import aws_factories as a
from tests.factories import run_check

ALL_IDS = [s.id for s in default_registry().all()]


def odd_worlds():
    yield (
        "empty lists and nulls",
        lambda s: s.aws.__dict__.update(
            load_balancers=[{}],
            security_groups=[{}],
            network_acls=[{}],
            route_tables=[{}],
            subnets=[{}],
            instances=[{}],
            vpcs=[{}],
            dhcp_options=[{}],
        ),
    )
    yield (
        "null fields",
        lambda s: (
            s.aws.load_balancers[0].update(AvailabilityZones=None, SecurityGroups=None, State=None),
            s.aws.target_groups[0].update(
                Port=None, HealthCheckPort=None, Matcher=None, HealthCheckTimeoutSeconds=None
            ),
            s.aws.security_groups[0].update(
                IpPermissions=[{"IpProtocol": None, "IpRanges": [{"CidrIp": "not-a-cidr"}]}]
            ),
            s.aws.network_acls[0].update(
                Entries=[
                    {"RuleNumber": None, "CidrBlock": None, "Protocol": None},
                    {"RuleNumber": "x", "CidrBlock": "0.0.0.0/0", "PortRange": {"From": None}},
                ]
            ),
            s.aws.route_tables[0].update(Routes=[{}, {"DestinationCidrBlock": "bogus"}], Associations=None),
            s.aws.instances[0].update(NetworkInterfaces=None, SecurityGroups=None),
        ),
    )
    yield (
        "odd target health",
        lambda s: s.aws.target_health.update(
            {
                s.aws.target_groups[0]["TargetGroupArn"]: [
                    None,
                    {},
                    {"Target": None, "TargetHealth": None},
                    {
                        "Target": {"Id": 5, "Port": "x"},
                        "TargetHealth": {"State": "unhealthy", "Reason": None},
                    },
                ]
            }
        ),
    )
    yield (
        "ipv6 and prefix lists",
        lambda s: (
            s.aws.security_groups[0].update(
                IpPermissions=[
                    {
                        "IpProtocol": "tcp",
                        "FromPort": 0,
                        "ToPort": 65535,
                        "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
                        "PrefixListIds": [{}],
                    }
                ]
            ),
            s.aws.network_acls[0]["Entries"].insert(
                0,
                {
                    "RuleNumber": 1,
                    "Ipv6CidrBlock": "::/0",
                    "Protocol": "-1",
                    "RuleAction": "deny",
                    "Egress": False,
                },
            ),
        ),
    )
    yield (
        "probe results with missing fields",
        lambda s: s.probes.append(
            __import__("checks.state", fromlist=["ProbeResult"]).ProbeResult(
                kind="http", subject="?", address="127.0.0.2", port=80, ok=False, status_code=None
            )
        ),
    )


@pytest.mark.parametrize(
    "lb_type,target_type,policy",
    [("network", "ip", "Cluster"), ("application", "instance", "Cluster"), ("network", "instance", "Local")],
)
@pytest.mark.parametrize("name,breaker", list(odd_worlds()), ids=[n for n, _ in odd_worlds()])
def test_no_check_crashes(lb_type, target_type, policy, name, breaker):
    state = a.world(lb_type=lb_type, target_type=target_type, external_traffic_policy=policy)
    tid, port = ("127.0.0.2", 80) if target_type == "ip" else (a.INSTANCE_1, 30080)
    a.set_health(state, [a.thd(tid, port, "unhealthy", "Target.Timeout")])
    breaker(state)
    for check_id in ALL_IDS:
        for finding in run_check(check_id, state, odd=True):
            assert finding.status != Status.ERROR, f"{check_id} crashed on {name}: {finding.summary}"
            assert finding.summary and "\n" not in finding.summary
