"""K8S-READINESS-GATE: the load balancer's readiness gate on the pods, with its reason code."""

import pytest

from checks.model import Status
from tests.factories import make_state, pod, run_check, service

ID = "K8S-READINESS-GATE"
GATE = "target-health.elbv2.k8s.aws/k8s-shop-web-0123456789"


def gated_pod(name="web-1", status=None, reason=None, message=None, ip="127.0.0.2"):
    conds = [{"type": "Ready", "status": "True" if status == "True" else "False"}, {"type": "ContainersReady", "status": "True"}]
    if status is not None:
        c = {"type": GATE, "status": status}
        if reason:
            c["reason"] = reason
        if message:
            c["message"] = message
        conds.append(c)
    return pod(name, ip=ip, readiness_gates=[GATE], conditions=conds)


def test_passes_when_gates_true():
    [f] = run_check(ID, make_state(service(), gated_pod(status="True"), gated_pod("web-2", status="True", ip="127.0.0.3")))
    assert f.status == Status.PASS
    assert "All 2 load balancer readiness gates" in f.summary
    assert f"Pod shop/web-1 condition {GATE} = True" in f.evidence


def test_false_gate_carries_the_lb_reason_code():
    p = gated_pod(status="False", reason="Target.ResponseCodeMismatch", message="Health checks failed with these codes: [404]")
    [f] = run_check(ID, make_state(service(), p, gated_pod("web-2", status="True", ip="127.0.0.3")))
    assert f.status == Status.FAIL
    assert "1 of 2" in f.summary and "Target.ResponseCodeMismatch" in f.summary
    assert any("reason=Target.ResponseCodeMismatch" in e and "[404]" in e for e in f.evidence)
    assert any("HTTP status outside the success codes" in e for e in f.evidence)
    assert "healthcheck-path" in f.supports
    assert f.cause == ""
    assert f.next_step.startswith("kubectl get targetgroupbinding -n shop -o custom-columns=") and "<" not in f.next_step


def test_reason_code_found_in_message_only():
    p = gated_pod(status="False", reason="Unhealthy", message="Target.Timeout: Request timed out")
    [f] = run_check(ID, make_state(service(), p))
    assert f.status == Status.FAIL
    assert "network-sg" in f.supports and "network-policy" in f.supports


def test_missing_condition_is_stuck_warning():
    [f] = run_check(ID, make_state(service(), gated_pod(status=None)))
    assert f.status == Status.WARN
    assert "no condition was ever reported" in f.summary
    assert f.supports == ("controller",)


def test_initial_health_checking_is_in_progress():
    p = gated_pod(status="False", reason="Elb.InitialHealthChecking", message="Initial health checks in progress")
    [f] = run_check(ID, make_state(service(), p))
    assert f.status == Status.WARN
    assert "still registering" in f.summary


def test_skip_without_gates_and_when_not_read():
    lbc_ip = {"service.beta.kubernetes.io/aws-load-balancer-type": "external",
              "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip"}
    [f] = run_check(ID, make_state(service(annotations=lbc_ip), pod("web-1")))
    assert f.status == Status.SKIP
    assert "kubectl label namespace shop elbv2.k8s.aws/pod-readiness-gate-inject=enabled" in f.summary
    [f] = run_check(ID, make_state(service(), reads={"k8s.service"}))
    assert f.status == Status.SKIP and "not read in this diagnosis" in f.summary


@pytest.mark.parametrize(
    ("annotations", "words"),
    [
        ({"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"}, "it does not manage this load balancer"),
        ({"service.beta.kubernetes.io/aws-load-balancer-type": "external"}, "only for ip targets; these are instance targets"),
        ({"service.kubernetes.io/loadbalance-id": "lb-abc"}, "NodePort mode: the CLB targets nodes"),
        ({"service.kubernetes.io/loadbalance-id": "lb-abc", "service.cloud.tencent.com/direct-access": "true"},
         "to pods created while a direct-access Service selects them"),
    ],
)
def test_no_gate_advice_where_a_gate_cannot_exist(annotations, words):
    """The LBC injects gates for its ip targets only: in-tree NLBs, instance targets and TKE are told otherwise."""
    [f] = run_check(ID, make_state(service(annotations=annotations), pod("web-1")))
    assert f.status == Status.SKIP and words in f.summary
    assert "pod-readiness-gate-inject" not in f.summary


def test_stuck_tke_gate_points_at_tke_not_the_aws_controller():
    gate = "cloud.tencent.com/load-balancer-backendgroup-ready"
    p = pod("web-1", readiness_gates=[gate], conditions=[{"type": "Ready", "status": "False"}])
    [f] = run_check(ID, make_state(service(annotations={"service.kubernetes.io/loadbalance-id": "lb-abc"}), p))
    assert f.status == Status.WARN
    assert "aws-load-balancer-controller" not in f.next_step and f.next_step.startswith("kubectl describe svc web -n shop")


def test_tencent_gate_is_understood():
    gate = "cloud.tencent.com/load-balancer-backendgroup-ready"
    p = pod("web-1", readiness_gates=[gate], conditions=[{"type": gate, "status": "False", "reason": "LoadBalancerNotReady"}])
    [f] = run_check(ID, make_state(service(), p))
    assert f.status == Status.FAIL
    assert f.next_step.startswith("kubectl describe pod web-1 -n shop") and ";" not in f.next_step


def test_odd_gates_do_not_crash():
    p = pod("web-1")
    p["spec"]["readinessGates"] = [None, "x", {"conditionType": None}]
    [f] = run_check(ID, make_state(service(), p), odd=True)
    assert f.status == Status.SKIP
