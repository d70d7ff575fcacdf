"""TC-SG: backend security groups admit the probe source and clients (first match wins)."""

from __future__ import annotations

import json

from checks.model import Status
from checks.tencent._common import evaluate_rules, port_relation
from tests import tencent_factories as tf
from tests.factories import run_check

VIP_HC = tf.health_check(SourceIpType=0)


def run(state):
    return run_check("TC-SG", state)


def test_vip_dropped_by_earlier_rule_fails_with_fix_plan():
    rules = [tf.sg_rule("ACCEPT", "127.0.0.0/24", "22"), tf.sg_rule("DROP", "0.0.0.0/0", "ALL", "ALL"), tf.sg_rule("ACCEPT", "127.0.0.50", "30080")]
    [finding] = run(tf.scenario(healthy=False, hc=VIP_HC, node_rules=rules).state())
    assert finding.status == Status.FAIL
    assert finding.cause == "network-sg"
    assert "sg-node" in finding.summary and "127.0.0.50" in finding.summary and "30080" in finding.summary
    assert any("DROP by rule sg-node#1 DROP ALL port ALL from 0.0.0.0/0" in e for e in finding.evidence)
    fix = finding.fix
    assert fix.id == "FIX-SG-RULE" and fix.patch_type == "cloud-api"
    assert fix.patch == {
        "SecurityGroupId": "sg-node",
        "SecurityGroupPolicySet": {
            "Ingress": [{"PolicyIndex": 0, "Protocol": "TCP", "Port": "30080", "CidrBlock": "127.0.0.50", "Action": "ACCEPT", "PolicyDescription": "lbhealth: CLB lb-web health checks"}],
            "Version": "7",
        },
    }
    assert fix.command.startswith("tccli vpc CreateSecurityGroupPolicies --SecurityGroupId sg-node --SecurityGroupPolicySet '{\"Ingress\":[")
    assert fix.command.endswith("' --region ap-guangzhou")
    body = fix.command.split("--SecurityGroupPolicySet '", 1)[1].split("'", 1)[0]
    assert json.loads(body) == fix.patch["SecurityGroupPolicySet"]
    assert fix.target.name == "sg-node" and fix.target.resource_version == "7"
    assert finding.next_step == fix.command


def test_no_matching_rule_is_default_deny():
    [finding] = run(tf.scenario(healthy=False, hc=VIP_HC, node_rules=[tf.sg_rule("ACCEPT", "127.0.3.0/24", "80")]).state())
    assert finding.status == Status.FAIL
    assert any("no rule matches: denied by default" in e for e in finding.evidence)


def test_vip_admitted_by_range_and_list_ports_passes():
    rules = [tf.sg_rule("ACCEPT", "127.0.0.0/8", "30000-32768"), tf.sg_rule("DROP", "0.0.0.0/0", "ALL", "ALL")]
    [finding] = run(tf.scenario(healthy=False, hc=VIP_HC, node_rules=rules).state())
    assert finding.status == Status.PASS
    assert "127.0.0.50" in finding.summary
    rules = [tf.sg_rule("ACCEPT", "127.0.0.50", "80,30080", "ALL")]
    [finding] = run(tf.scenario(healthy=False, hc=VIP_HC, node_rules=rules).state())
    assert finding.status == Status.PASS
    assert any("does not admit the whole NodePort range 30000-32768" in e for e in finding.evidence)


def test_direct_access_uses_eni_groups():
    sc = tf.scenario(direct=True, healthy=False, hc=VIP_HC, eni_rules=[tf.sg_rule("DROP", "0.0.0.0/0", "ALL", "ALL")])
    [finding] = run(sc.state())
    assert finding.status == Status.FAIL
    assert "sg-eni" in finding.summary and "TCP 80" in finding.summary
    assert any("ENI eni-web1" in e for e in finding.evidence)


def test_range_source_needs_no_rule():
    [finding] = run(tf.scenario(healthy=False, node_rules=[tf.sg_rule("DROP", "0.0.0.0/0", "ALL", "ALL")]).state())
    assert finding.status == Status.PASS
    assert "100.64.0.0/10" in finding.summary


def test_public_clb_clients_dropped_warns():
    sc = tf.scenario(healthy=False, lb=tf.clb(type="OPEN"), node_rules=[tf.sg_rule("DROP", "0.0.0.0/0", "ALL", "ALL")])
    [finding] = run(sc.state())
    assert finding.status == Status.WARN
    assert "client" in finding.summary
    assert "--SecurityGroupId sg-" in finding.next_step and "<sg>" not in finding.next_step  # the group at fault, named


def test_pass_to_target_bypasses_groups():
    sc = tf.scenario(healthy=False, hc=VIP_HC, lb=tf.clb(pass_to_target=True), node_rules=[tf.sg_rule("DROP", "0.0.0.0/0", "ALL", "ALL")])
    [finding] = run(sc.state())
    assert finding.status == Status.PASS
    assert "LoadBalancerPassToTarget" in finding.summary


def test_skip_when_targets_healthy():
    st = tf.scenario().state()
    st.reads_done.discard("tencent.vpc_network")
    st.skipped_reads["tencent.vpc_network"] = "targets are healthy; network path not suspected"
    [finding] = run(st)
    assert finding.status == Status.SKIP
    assert "targets are healthy; network path not suspected" in finding.summary


def test_peer_group_rule_is_uncertain_not_fail():
    rules = [{"Protocol": "TCP", "Port": "ALL", "SecurityGroupId": "sg-clb", "Action": "ACCEPT", "CidrBlock": ""}]
    [finding] = run(tf.scenario(healthy=False, hc=VIP_HC, node_rules=rules).state())
    assert finding.status == Status.WARN
    assert "--SecurityGroupId sg-" in finding.next_step and "<sg>" not in finding.next_step


def test_rule_evaluation_details():
    assert port_relation("ALL", 80) == "all"
    assert port_relation("80", 80) == "all"
    assert port_relation("80,443", 443) == "all"
    assert port_relation("30000-32768", 30080) == "all"
    assert port_relation("30000-31000", 30000, 32768) == "some"
    assert port_relation(8080, 80) == "none"
    assert port_relation("bogus", 80) == "unknown"
    rules = [
        {"Protocol": "UDP", "Port": "ALL", "CidrBlock": "0.0.0.0/0", "Action": "DROP"},
        {"Protocol": "tcp", "Port": 30080, "CidrBlock": "0.0.0.0/8", "Action": "ACCEPT"},
    ]
    ev = evaluate_rules(rules, protocol="TCP", port=30080, source="127.0.0.50")
    assert ev.action == "ACCEPT"  # 0.0.0.0/n maps to 0.0.0.0/0


def test_globalroute_pods_use_their_nodes_groups():
    sc = tf.scenario(direct=True, backend_type="GLOBALROUTE", healthy=False, hc=VIP_HC, node_rules=[tf.sg_rule("DROP", "0.0.0.0/0", "ALL", "ALL")])
    sc.network_interfaces = []
    [finding] = run(sc.state())
    assert finding.status == Status.FAIL
    assert "sg-node" in finding.summary and "TCP 80" in finding.summary
    assert any("of the pod's node (no ENI of its own)" in e for e in finding.evidence)
