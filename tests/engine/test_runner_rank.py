"""Runner isolation and ranking: crashing checks become `error`; agreement across layers wins."""

from __future__ import annotations

from checks.model import Finding, Status
from checks.rank import rank
from checks.registry import Registry, check
from checks.runner import run_checks
from tests import factories as f


def test_a_crashing_check_yields_an_error_finding_not_a_crash():
    reg = Registry()

    @check("K8S-BOOM", title="t", seed="s", reads=("k8s.service",), registry=reg)
    def boom(state):
        raise KeyError("spec")

    @check("K8S-FINE", title="t", seed="s", reads=("k8s.service",), registry=reg)
    def fine(state):
        return Finding("K8S-FINE", Status.PASS, "ok")

    findings = run_checks(f.make_state(f.service()), reg.all())
    by_id = {x.check_id: x for x in findings}
    assert by_id["K8S-BOOM"].status == Status.ERROR and "KeyError" in by_id["K8S-BOOM"].summary
    assert by_id["K8S-FINE"].status == Status.PASS


def test_missing_service_skips_kubernetes_checks_but_not_cloud_checks():
    reg = Registry()

    @check("K8S-NEEDS", title="t", seed="s", reads=("k8s.pods",), registry=reg)
    def needs(state):
        return Finding("K8S-NEEDS", Status.FAIL, "should not run")

    @check("AWS-CLOUD", title="t", seed="s", reads=("aws.target_health",), registry=reg)
    def cloud(state):
        return Finding("AWS-CLOUD", Status.WARN, "cloud side still checked")

    # the cloud is known without the Service, as when an alarm names the load balancer
    findings = {x.check_id: x for x in run_checks(f.make_state(cloud="aws"), reg.all())}
    assert findings["K8S-NEEDS"].status == Status.SKIP and "not found" in findings["K8S-NEEDS"].summary
    assert findings["AWS-CLOUD"].status == Status.WARN


def test_node_checks_are_opt_in():
    reg = Registry()

    @check("NODE-X", title="t", seed="s", reads=("node",), opt_in=True, registry=reg)
    def node_x(state):
        return Finding("NODE-X", Status.FAIL, "ran")

    assert run_checks(f.make_state(f.service()), reg.all())[0].status == Status.SKIP
    assert run_checks(f.make_state(f.service(), node=True), reg.all())[0].status == Status.FAIL


def test_cross_layer_agreement_beats_a_single_louder_prior():
    findings = [
        Finding(
            "K8S-ALB-INGRESS",
            Status.FAIL,
            "LB checks / but the app answers on /healthz",
            cause="healthcheck-path",
        ),
        Finding("K8S-NETWORKPOLICY", Status.FAIL, "a policy may block", cause="network-policy"),
        Finding(
            "AWS-TARGET-HEALTH",
            Status.FAIL,
            "ResponseCodeMismatch [404]",
            supports=("healthcheck-path", "app-error"),
        ),
        Finding("PROBE-HTTP", Status.FAIL, "GET / -> 404", supports=("healthcheck-path",)),
        Finding("K8S-SELECTOR", Status.PASS, "ok"),
    ]
    ordered, verdict = rank(
        findings, {"K8S-ALB-INGRESS": 60, "K8S-NETWORKPOLICY": 80, "AWS-TARGET-HEALTH": 30, "PROBE-HTTP": 40}
    )
    assert verdict.check_id == "K8S-ALB-INGRESS"
    assert ordered[-1].status == Status.PASS


def test_verdicts_for_pass_and_all_error():
    _, v = rank([Finding("A", Status.PASS, "ok"), Finding("B", Status.SKIP, "n/a")], {})
    assert v.status == Status.PASS and v.check_id is None
    _, v = rank([Finding("A", Status.ERROR, "forbidden"), Finding("B", Status.SKIP, "n/a")], {})
    assert v.status == Status.ERROR and "forbidden" in v.summary
