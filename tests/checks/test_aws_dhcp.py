"""AWS-DHCP: custom DHCP domain name (NLB + Local + instance targets) needs kube-proxy --hostname-override."""

from __future__ import annotations

from checks.model import Status
from tests import aws_factories as a
from tests.factories import run_check


def local_world(domain):
    state = a.world(target_type="instance", external_traffic_policy="Local")
    state.aws.dhcp_options = [a.dhcp_options(domain)]
    return state


def test_custom_domain_warns_and_supports_kube_proxy_hostname():
    [finding] = run_check("AWS-DHCP", local_world("corp.example.com"))
    assert finding.status == Status.WARN
    assert "corp.example.com" in finding.summary
    assert "kube-proxy-hostname" in finding.supports
    assert any("expected ec2.internal" in e for e in finding.evidence)


def test_default_domain_passes():
    [finding] = run_check("AWS-DHCP", local_world("ec2.internal"))
    assert finding.status == Status.PASS


def test_regional_default_domain_passes_outside_us_east_1():
    state = local_world("ap-southeast-2.compute.internal")
    state.aws.region = "ap-southeast-2"
    [finding] = run_check("AWS-DHCP", state)
    assert finding.status == Status.PASS


def test_skips_when_not_local_or_not_read():
    [finding] = run_check("AWS-DHCP", a.world(target_type="instance"))
    assert finding.status == Status.SKIP
    state = local_world("corp.example.com")
    state.skipped_reads["aws.dhcp"] = (
        "DHCP options matter only for an NLB with externalTrafficPolicy Local and instance targets"
    )
    [finding] = run_check("AWS-DHCP", state)
    assert finding.status == Status.SKIP
