"""K8S-LBC: the AWS Load Balancer Controller is ready and not denied by IAM."""

from checks.model import Status
from tests import factories as f
from tests.factories import event, ingress, make_state, pod, run_check, service

ID = "K8S-LBC"
NLB = {"service.beta.kubernetes.io/aws-load-balancer-type": "external", "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip"}


def deployment(name="aws-load-balancer-controller", namespace="kube-system", replicas=2, ready=2, labels=None):
    labels = labels or {"app.kubernetes.io/name": "aws-load-balancer-controller"}
    return f.deployment(name, namespace, labels=labels, replicas=replicas, ready=ready)


def test_passes_when_ready_and_quiet():
    state = make_state(service(annotations=NLB), pod(), deployment())
    state.k8s.logs[("kube-system", "aws-load-balancer-controller-6d4-abc", "controller", False)] = '{"level":"info","msg":"successfully deployed model"}\n'
    [f] = run_check(ID, state)
    assert f.status == Status.PASS
    assert "2/2 replicas ready" in f.summary
    assert any("1 log line(s) scanned" in e for e in f.evidence)


def test_not_ready_controller_fails():
    [f] = run_check(ID, make_state(service(annotations=NLB), pod(), deployment(ready=0)))
    assert f.status == Status.FAIL and f.cause == "controller"
    assert "0/2 replicas ready" in f.summary
    assert "deployment kube-system/aws-load-balancer-controller: replicas 2, ready 0, available 0" in f.evidence


def test_found_by_label_in_another_namespace():
    dep = deployment(name="lbc", namespace="aws-lb")
    [f] = run_check(ID, make_state(service(annotations=NLB), pod(), dep))
    assert f.status == Status.PASS and "aws-lb/lbc" in f.summary


def test_access_denied_in_logs_names_the_iam_action():
    state = make_state(service(annotations=NLB), pod(), deployment())
    line = (
        '{"level":"error","ts":"2026-11-21T10:00:00Z","msg":"Reconciler error","controller":"service","object":{"name":"web","namespace":"shop"},'
        '"error":"AccessDenied: User: arn:aws:sts::111122223333:assumed-role/lbc/i is not authorized to perform: '
        'elasticloadbalancing:AddTags on resource: arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/k8s-shop-web/abc"}'
    )
    state.k8s.logs[("kube-system", "aws-load-balancer-controller-6d4-abc", "controller", False)] = "ok line\n" + line + "\n"
    [f] = run_check(ID, state)
    assert f.status == Status.FAIL and f.cause == "controller"
    assert "elasticloadbalancing:AddTags" in f.summary
    assert any("AccessDenied" in e and e.startswith("log aws-load-balancer-controller-6d4-abc") for e in f.evidence)


def test_failed_deploy_event_on_ingress_with_unauthorized_operation():
    ev = event(
        "Ingress", "web", reason="FailedDeployModel",
        message="Failed deploy model due to UnauthorizedOperation: You are not authorized to perform this operation. Encoded authorization failure message: xyz",
    )
    state = make_state(service(type="NodePort"), pod(), ingress(), deployment(), ev)
    [f] = run_check(ID, state)
    assert f.status == Status.FAIL and f.cause == "controller"
    assert "decode-authorization-message" in f.summary
    assert any("FailedDeployModel" in e for e in f.evidence)


def test_failed_build_model_supports_controller_without_claiming_it():
    ev = event("Ingress", "web", reason="FailedBuildModel", message="Failed build model due to ingress: shop/web: unable to find port 8080 on service shop/web")
    state = make_state(service(type="NodePort"), pod(), ingress(), deployment(), ev)
    [f] = run_check(ID, state)
    assert f.status == Status.FAIL and f.cause == "" and "controller" in f.supports
    assert "unable to find port 8080" in f.summary


def test_missing_controller_fails_unless_the_lb_exists():
    [f] = run_check(ID, make_state(service(annotations=NLB), pod()))
    assert f.status == Status.FAIL and "No AWS Load Balancer Controller is installed" in f.summary
    state = make_state(service(annotations=NLB, hostname="k8s-shop-web-123.elb.us-east-1.amazonaws.com"), pod())
    [f] = run_check(ID, state)
    assert f.status == Status.WARN and "another name" in f.summary


def test_skips_for_in_tree_service_and_other_clouds():
    [f] = run_check(ID, make_state(service(annotations={"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"}), pod()))
    assert f.status == Status.SKIP and "in-tree" in f.summary
    tke = service(annotations={"service.kubernetes.io/loadbalance-id": "lb-123"})
    [f] = run_check(ID, make_state(tke, pod()))
    assert f.status == Status.SKIP and "Not an AWS" in f.summary


def test_deployment_read_error_is_reported():
    state = make_state(service(annotations=NLB), pod(), reads={"k8s.service", "k8s.pods", "k8s.events", "k8s.lbc"})
    state.read_errors["k8s.lbc"] = "forbidden: deployments.apps is forbidden in kube-system"
    [f] = run_check(ID, state)
    assert f.status == Status.ERROR and "forbidden" in f.summary
