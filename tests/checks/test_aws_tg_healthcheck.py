"""AWS-TG-HEALTHCHECK: target group settings vs annotations and vs the probe."""

from __future__ import annotations

from checks.model import Status
from checks.state import ProbeResult
from tests import aws_factories as a
from tests.factories import run_check

ANN = "service.beta.kubernetes.io/aws-load-balancer-"


def test_passes_when_annotations_match():
    state = a.world(
        service_annotations={ANN + "healthcheck-protocol": "tcp", ANN + "healthcheck-interval": "10"}
    )
    [finding] = run_check("AWS-TG-HEALTHCHECK", state)
    assert finding.status == Status.PASS
    assert "TCP port traffic-port" in finding.evidence[0]


def test_warns_when_target_group_ignores_annotations():
    state = a.world(
        service_annotations={ANN + "healthcheck-protocol": "http", ANN + "healthcheck-path": "/healthz"}
    )
    [finding] = run_check("AWS-TG-HEALTHCHECK", state)
    assert finding.status == Status.WARN
    assert finding.cause == "controller"
    assert any("healthcheck-path='/healthz'" in e and "HealthCheckPath is not set" in e for e in finding.evidence)
    assert finding.next_step.startswith("kubectl logs -n kube-system deploy/aws-load-balancer-controller")  # it owns this NLB


def test_annotations_the_in_tree_provider_ignored_point_at_the_service_events_not_the_lbc():
    """The in-tree NLB has no aws-load-balancer-controller to read the log of."""
    state = a.world(service_annotations={ANN + "healthcheck-path": "/healthz", ANN + "healthcheck-protocol": "http"})
    state.service["metadata"]["annotations"][ANN + "type"] = "nlb"
    [finding] = run_check("AWS-TG-HEALTHCHECK", state)
    assert finding.status == Status.WARN
    assert "aws-load-balancer-controller" not in finding.next_step
    assert finding.next_step.startswith("kubectl describe svc web -n shop") and "EKS control plane" in finding.next_step


def test_ingress_annotations_for_alb():
    state = a.world(lb_type="application")
    ing = state.k8s.of_kind("Ingress")[0]
    ing["metadata"]["annotations"]["alb.ingress.kubernetes.io/healthcheck-path"] = "/ready"
    [finding] = run_check("AWS-TG-HEALTHCHECK", state)
    assert finding.status == Status.WARN
    assert "Ingress web alb.ingress.kubernetes.io/healthcheck-path='/ready'" in finding.evidence[0]


def test_probe_code_rejected_by_matcher():
    state = a.world(lb_type="application")
    state.probes.append(
        ProbeResult(
            kind="http",
            subject="pod shop/web-1",
            address="127.0.0.2",
            port=80,
            ok=False,
            path="/",
            status_code=404,
            elapsed_ms=3,
        )
    )
    [finding] = run_check("AWS-TG-HEALTHCHECK", state)
    assert finding.status == Status.FAIL
    assert finding.cause == "healthcheck-path"
    assert "404" in finding.summary and "matcher 200" in finding.summary
    assert finding.next_step.startswith("kubectl -n shop annotate ingress web")


def test_probe_slower_than_timeout():
    state = a.world(lb_type="application")
    a.tg_of(state)["HealthCheckTimeoutSeconds"] = 5
    state.probes.append(
        ProbeResult(
            kind="http",
            subject="pod shop/web-1",
            address="127.0.0.2",
            port=80,
            ok=True,
            path="/",
            status_code=200,
            elapsed_ms=7200,
        )
    )
    [finding] = run_check("AWS-TG-HEALTHCHECK", state)
    assert finding.status == Status.FAIL
    assert finding.cause == "healthcheck-settings"
    assert "7.2 s" in finding.summary
    # on the Ingress the controller reconciles from (a target-group change would be reverted), one command
    assert finding.next_step.startswith("kubectl -n shop annotate ingress web alb.ingress.kubernetes.io/healthcheck-timeout-seconds=9")


def test_a_longer_timeout_comes_with_a_longer_interval_as_elbv2_requires():
    state = a.world()  # the AWS Load Balancer Controller's NLB
    a.tg_of(state).update(HealthCheckProtocol="HTTP", HealthCheckPath="/", HealthCheckTimeoutSeconds=5, HealthCheckIntervalSeconds=10)
    state.probes.append(ProbeResult(kind="http", subject="pod shop/web-1", address="127.0.0.2", port=80, ok=True,
                                    path="/", status_code=200, elapsed_ms=12500))
    [finding] = run_check("AWS-TG-HEALTHCHECK", state)
    assert finding.cause == "healthcheck-settings"
    assert finding.next_step == (
        "kubectl -n shop annotate svc web service.beta.kubernetes.io/aws-load-balancer-healthcheck-timeout=14 "
        "service.beta.kubernetes.io/aws-load-balancer-healthcheck-interval=19 --overwrite"
    )


def test_in_tree_nlb_is_not_offered_a_success_codes_annotation_it_ignores():
    state = a.world(external_traffic_policy="Local", target_type="instance")
    state.service["metadata"]["annotations"][ANN + "type"] = "nlb"
    state.probes.append(ProbeResult(kind="http", subject="node node-1", address="127.0.1.1", port=30080, ok=False,
                                    path="/", status_code=404, elapsed_ms=3))
    [finding] = run_check("AWS-TG-HEALTHCHECK", state)
    assert finding.cause == "healthcheck-path", finding
    assert "success-codes" not in finding.next_step.split("  (")[0]
    assert finding.next_step.startswith("curl -s -o /dev/null -w '%{http_code}\\n' http://127.0.1.1:30080/")


def test_health_check_port_nobody_serves():
    state = a.world(target_type="instance")
    a.tg_of(state)["HealthCheckPort"] = "31999"
    [finding] = run_check("AWS-TG-HEALTHCHECK", state)
    assert finding.status == Status.WARN
    assert finding.cause == "healthcheck-port"


def test_skips_without_target_groups():
    state = a.world()
    state.aws.target_groups = []
    [finding] = run_check("AWS-TG-HEALTHCHECK", state)
    assert finding.status == Status.SKIP


def test_in_tree_nlb_has_no_success_codes_annotation():
    state = a.world(service_annotations={ANN + "healthcheck-success-codes": "200"})
    state.service["metadata"]["annotations"].pop(ANN + "type")
    state.service["metadata"]["annotations"][ANN + "type"] = "nlb"
    [finding] = run_check("AWS-TG-HEALTHCHECK", state)
    assert finding.status == Status.PASS
