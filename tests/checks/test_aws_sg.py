"""AWS-SG: target security groups admit the load balancer; node groups admit each other."""

from __future__ import annotations

import json

from checks.model import Status
from tests import aws_factories as a
from tests.factories import run_check


def timeout_world(**kw):
    state = a.world(**kw)
    tid, port = ("127.0.0.2", 80) if kw.get("target_type", "ip") == "ip" else (a.INSTANCE_1, 30080)
    a.set_health(state, [a.thd(tid, port, "unhealthy", "Target.Timeout")])
    return state


def test_passes_when_lb_sg_admitted():
    [finding] = run_check("AWS-SG", a.world(lb_type="application"))
    assert finding.status == Status.PASS


def test_alb_sg_not_admitted_fails_with_exact_fix():
    state = timeout_world(lb_type="application")
    a.sg(state, a.NODE_SG)["IpPermissions"] = [
        a.perm(proto="-1", groups=(a.NODE_SG,)),
        a.perm(443, groups=(a.LB_SG,)),
    ]
    [finding] = run_check("AWS-SG", state)
    assert finding.status == Status.FAIL
    assert finding.cause == "network-sg"
    assert a.LB_SG in finding.summary and "port 80" in finding.summary
    fix = finding.fix
    assert fix.id == "FIX-SG-RULE" and fix.patch_type == "cloud-api"
    assert fix.patch == {
        "GroupId": a.NODE_SG,
        "IpPermissions": [
            {
                "IpProtocol": "tcp",
                "FromPort": 80,
                "ToPort": 80,
                "UserIdGroupPairs": [
                    {"GroupId": a.LB_SG, "Description": "lbhealth: k8s-shop-web-0123456789 health checks"}
                ],
            }
        ],
    }
    assert fix.command.startswith(
        f"aws ec2 authorize-security-group-ingress --region us-east-1 --group-id {a.NODE_SG} --ip-permissions '"
    )
    assert json.loads(fix.command.split("--ip-permissions ", 1)[1].strip("'")) == fix.patch["IpPermissions"]
    assert finding.next_step == fix.command


def test_nlb_without_sgs_needs_lb_subnet_cidrs():
    state = timeout_world()
    a.sg(state, a.NODE_SG)["IpPermissions"] = [
        a.perm(proto="-1", groups=(a.NODE_SG,)),
        a.perm(80, cidrs=("127.0.2.0/24",)),
    ]
    [finding] = run_check("AWS-SG", state)
    assert finding.status == Status.WARN  # admits one LB subnet of two: only part of the source
    a.sg(state, a.NODE_SG)["IpPermissions"] = [a.perm(proto="-1", groups=(a.NODE_SG,))]
    [finding] = run_check("AWS-SG", state)
    assert finding.status == Status.FAIL
    ranges = finding.fix.patch["IpPermissions"][0]["IpRanges"]
    assert [r["CidrIp"] for r in ranges] == ["127.0.2.0/24", "127.0.3.0/24"]


def test_health_check_port_checked_too():
    state = timeout_world(lb_type="application")
    a.tg_of(state)["HealthCheckPort"] = "8081"
    a.set_health(state, [a.thd("127.0.0.2", 80, "unhealthy", "Target.Timeout", hc_port="8081")])
    a.sg(state, a.NODE_SG)["IpPermissions"] = [a.perm(80, groups=(a.LB_SG,))]
    [finding] = run_check("AWS-SG", state)
    assert finding.status == Status.FAIL
    assert "port 8081" in finding.summary


def test_node_groups_that_do_not_admit_each_other():
    state = a.world(lb_type="application", target_type="instance")
    other = "sg-0other00000000001"
    state.aws.instances[1]["NetworkInterfaces"][0]["Groups"] = [{"GroupId": other}]
    state.aws.instances[1]["SecurityGroups"] = [{"GroupId": other}]
    state.aws.security_groups.append(a.security_group(other, "ng-2", [a.perm(0, 65535, groups=(a.LB_SG,))]))
    findings = run_check("AWS-SG", state)
    fails = [x for x in findings if x.status == Status.FAIL]
    assert len(fails) == 2  # neither group admits the other on the pod port
    assert all("kube-proxy forwards" in x.summary for x in fails)
    assert all(x.fix and x.fix.patch["IpPermissions"][0]["FromPort"] == 80 for x in fails)


def test_skips_when_network_not_suspected():
    state = a.world(network=False)
    [finding] = run_check("AWS-SG", state)
    assert finding.status == Status.SKIP
    assert finding.summary == (
        "Not checked without the VPC's security groups, subnets, network ACLs and route tables: "
        "targets answered health checks; network path not suspected"
    )
    assert "aws ec2 describe-security-groups" in finding.next_step


def test_unknown_with_prefix_list_warns():
    state = timeout_world(lb_type="application")
    a.sg(state, a.NODE_SG)["IpPermissions"] = [a.perm(80, prefix_lists=("pl-0123",))]
    [finding] = run_check("AWS-SG", state)
    assert finding.status == Status.WARN
    assert any("prefix list" in e for e in finding.evidence)


def test_healthy_targets_turn_a_deny_into_a_warning():
    state = a.world(lb_type="application")
    a.sg(state, a.NODE_SG)["IpPermissions"] = [a.perm(proto="-1", groups=(a.NODE_SG,))]
    [finding] = run_check("AWS-SG", state)
    assert finding.status == Status.WARN
    assert "security groups for pods" in finding.summary
    assert finding.cause == "" and finding.fix is None
