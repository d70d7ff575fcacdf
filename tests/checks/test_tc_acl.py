"""TC-ACL: subnet network ACL admits the probe source inbound and outbound."""

from __future__ import annotations

from checks.model import Status
from tests import tencent_factories as tf
from tests.factories import run_check


def run(state):
    return run_check("TC-ACL", state)


def test_open_acl_passes():
    [finding] = run(tf.scenario(healthy=False).state())
    assert finding.status == Status.PASS
    assert "100.64.0.0/10" in finding.summary


def test_inbound_drop_before_accept_fails():
    acl = tf.network_acl(ingress=[tf.acl_entry("DROP", "100.64.0.0/10"), tf.acl_entry("ACCEPT", "0.0.0.0/0")])
    [finding] = run(tf.scenario(healthy=False, acl=acl).state())
    assert finding.status == Status.FAIL
    assert finding.cause == "network-acl"
    assert "acl-1" in finding.summary and "inbound probes from 100.64.0.0/10" in finding.summary
    assert "tccli vpc CreateNetworkAclEntries --region ap-guangzhou --NetworkAclId acl-1" in finding.next_step
    assert '"CidrBlock":"100.64.0.0/10"' in finding.next_step


def test_real_entries_with_a_description_are_read():
    """DescribeNetworkAcls entries carry `Description` (no `PolicyDescription`): TC-ACL once crashed on them."""
    acl = tf.network_acl(ingress=[tf.acl_entry("DROP", "100.64.0.0/10", desc="block carrier NAT"), tf.acl_entry("ACCEPT", "0.0.0.0/0")])
    [finding] = run(tf.scenario(healthy=False, acl=acl).state())
    assert finding.status == Status.FAIL and finding.cause == "network-acl"
    assert any("DROP ALL port ALL from 100.64.0.0/10 (block carrier NAT)" in e for e in finding.evidence), finding.evidence


def test_partial_accept_is_not_enough_and_outbound_checked():
    acl = tf.network_acl(ingress=[tf.acl_entry("ACCEPT", "100.64.0.0/16")])
    [finding] = run(tf.scenario(healthy=False, acl=acl).state())
    assert finding.status == Status.FAIL
    assert any("covers only part" in e for e in finding.evidence)
    acl = tf.network_acl(egress=[tf.acl_entry("ACCEPT", "127.0.0.0/8", "80", "TCP")])
    [finding] = run(tf.scenario(healthy=False, hc=tf.health_check(SourceIpType=0), acl=acl).state())
    assert finding.status == Status.FAIL
    assert "outbound replies to 127.0.0.50" in finding.summary


def test_ephemeral_range_outbound_passes():
    acl = tf.network_acl(egress=[tf.acl_entry("ACCEPT", "0.0.0.0/0", "1024-65535", "TCP")])
    [finding] = run(tf.scenario(healthy=False, acl=acl).state())
    assert finding.status == Status.PASS


def test_quintuple_not_evaluated():
    [finding] = run(tf.scenario(healthy=False, acl=tf.network_acl(type="QUINTUPLE")).state())
    assert finding.status == Status.SKIP
    assert "QUINTUPLE" in finding.summary


def test_no_acl_on_subnet_passes():
    [finding] = run(tf.scenario(healthy=False, acl=tf.network_acl(subnets=("subnet-other",))).state())
    assert finding.status == Status.PASS
    assert any("no network ACL bound" in e for e in finding.evidence)


def test_skip_when_network_not_read():
    st = tf.scenario().state()
    st.reads_done.discard("tencent.vpc_network")
    st.skipped_reads["tencent.vpc_network"] = "targets are healthy; network path not suspected"
    [finding] = run(st)
    assert finding.status == Status.SKIP
