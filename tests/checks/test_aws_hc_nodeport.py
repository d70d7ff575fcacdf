"""AWS-HC-NODEPORT: Local traffic policy with instance targets health-checks healthCheckNodePort."""

from __future__ import annotations

from checks.model import Status
from tests import aws_factories as a
from tests.factories import run_check


def local_world(**tg_fields):
    state = a.world(target_type="instance", external_traffic_policy="Local")
    a.tg_of(state).update(tg_fields)
    return state


def test_fails_when_health_check_goes_to_traffic_port_with_fix():
    state = local_world(HealthCheckPort="traffic-port", HealthCheckProtocol="TCP")
    [finding] = run_check("AWS-HC-NODEPORT", state)
    assert finding.status == Status.FAIL
    assert "healthCheckNodePort 32000" in finding.summary
    assert finding.cause == "healthcheck-port"
    assert finding.fix and finding.fix.id == "FIX-NLB-ANNOTATION"
    ann = finding.fix.patch["metadata"]["annotations"]
    assert ann["service.beta.kubernetes.io/aws-load-balancer-healthcheck-port"] == "32000"
    assert ann["service.beta.kubernetes.io/aws-load-balancer-healthcheck-path"] == "/healthz"
    assert finding.fix.target.kind == "Service" and finding.fix.target.resource_version == "1000"
    assert finding.next_step == finding.fix.command and "#" not in finding.next_step  # one command, shown once


def test_fails_when_numeric_nodeport():
    state = local_world(HealthCheckPort="30080")
    [finding] = run_check("AWS-HC-NODEPORT", state)
    assert finding.status == Status.FAIL


def test_passes_on_health_check_node_port_http():
    state = local_world(HealthCheckPort="32000", HealthCheckProtocol="HTTP", HealthCheckPath="/healthz")
    [finding] = run_check("AWS-HC-NODEPORT", state)
    assert finding.status == Status.PASS


def test_warns_on_tcp_to_health_port():
    state = local_world(HealthCheckPort="32000", HealthCheckProtocol="TCP")
    [finding] = run_check("AWS-HC-NODEPORT", state)
    assert finding.status == Status.WARN


def test_skips_when_cluster_policy_or_ip_targets():
    [finding] = run_check("AWS-HC-NODEPORT", a.world(target_type="instance"))
    assert finding.status == Status.SKIP and "Cluster" in finding.summary
    [finding] = run_check("AWS-HC-NODEPORT", a.world(external_traffic_policy="Local"))
    assert finding.status == Status.SKIP and "ip targets" in finding.summary
