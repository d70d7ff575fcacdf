"""K8S-ALB-INGRESS: ALB Ingress annotations, backends, and the health-check path vs the app's readiness path."""

from checks.model import Finding, Status
from checks.rank import rank
from checks.registry import default_registry
from checks.state import ProbeResult
from tests.factories import container, ingress, make_state, pod, run_check, service

ID = "K8S-ALB-INGRESS"
ALB = "alb.ingress.kubernetes.io/"
TG_ARN = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/k8s-shop-web-0123456789/abcdef0123456789"


def healthz_pod(name="web-1", ip="127.0.0.2", ready=True, path="/healthz"):
    return pod(name, ip=ip, ready=ready, containers=[container(readiness_path=path)])


def mismatch_health(codes="404"):
    return {
        TG_ARN: [
            {
                "Target": {"Id": "127.0.0.2", "Port": 80},
                "HealthCheckPort": "80",
                "TargetHealth": {
                    "State": "unhealthy",
                    "Reason": "Target.ResponseCodeMismatch",
                    "Description": f"Health checks failed with these codes: [{codes}]",
                },
            }
        ]
    }


def alb_state(*extra, annotations=None, svc_type="NodePort", ready=True, path="/healthz", **svc_kw):
    ann = {ALB + "scheme": "internet-facing", ALB + "target-type": "ip"}
    ann.update(annotations or {})
    ann = {k: v for k, v in ann.items() if v is not None}
    return make_state(service(type=svc_type, **svc_kw), healthz_pod(ready=ready, path=path), ingress(annotations=ann), *extra)


def test_passes_when_annotations_match_the_readiness_path():
    state = alb_state(annotations={ALB + "healthcheck-path": "/healthz"})
    [f] = run_check(ID, state)
    assert f.status == Status.PASS
    assert "shop/web" in f.summary
    assert any("GET /healthz" in e for e in f.evidence)
    assert any("readiness probe uses the same path /healthz" in e for e in f.evidence)


def test_default_root_path_with_404_evidence_fails_with_path_fix():
    state = alb_state()
    state.aws.target_health = mismatch_health("404")
    [f] = run_check(ID, state)
    assert f.status == Status.FAIL
    assert f.cause == "healthcheck-path"
    assert "/healthz" in f.summary and "404" in f.summary
    assert any("healthcheck-path absent -> /" in e for e in f.evidence)
    assert any("Target.ResponseCodeMismatch" in e and "[404]" in e for e in f.evidence)
    assert f.fix is not None and f.fix.id == "FIX-HEALTHCHECK-PATH"
    assert f.fix.patch == {"metadata": {"annotations": {ALB + "healthcheck-path": "/healthz"}}}
    assert f.fix.patch_type == "merge"
    assert f.fix.target.kind == "Ingress" and f.fix.target.name == "web" and f.fix.target.namespace == "shop"
    assert f.fix.target.api_version == "networking.k8s.io/v1" and f.fix.target.resource_version == "1000"
    assert f.fix.command == f"kubectl -n shop annotate ingress web {ALB}healthcheck-path=/healthz --overwrite"


def test_probe_results_on_the_lb_path_are_failing_evidence_too():
    state = alb_state()
    state.probes = [
        ProbeResult(kind="http", subject="pod shop/web-1", address="127.0.0.2", port=80, ok=False, path="/", status_code=404, expected="200"),
        ProbeResult(kind="http", subject="pod shop/web-1", address="127.0.0.2", port=80, ok=True, path="/healthz", status_code=200, expected="200"),
    ]
    [f] = run_check(ID, state)
    assert f.status == Status.FAIL and f.cause == "healthcheck-path"
    assert any("GET 127.0.0.2:80/ -> 404" in e for e in f.evidence)
    assert any("/healthz -> 200" in e for e in f.evidence)


def test_mismatch_without_evidence_is_only_a_warning():
    [f] = run_check(ID, alb_state())
    assert f.status == Status.WARN
    assert f.cause == "" and "healthcheck-path" in f.supports
    assert "/healthz" in f.summary


def test_mismatch_with_the_lb_path_answering_fine_passes():
    state = alb_state()
    state.probes = [ProbeResult(kind="http", subject="pod shop/web-1", address="127.0.0.2", port=80, ok=True, path="/", status_code=200, expected="200")]
    [f] = run_check(ID, state)
    assert f.status == Status.PASS
    assert any("answers as the ALB expects" in e for e in f.evidence)


def test_redirect_on_the_same_path_proposes_success_codes():
    state = alb_state(annotations={ALB + "healthcheck-path": "/healthz"})
    state.aws.target_health = mismatch_health("302")
    [f] = run_check(ID, state)
    assert f.status == Status.FAIL and f.cause == "healthcheck-path"
    assert "302" in f.summary
    assert f.fix.patch == {"metadata": {"annotations": {ALB + "success-codes": "200,302"}}}


def test_not_ready_pods_make_it_a_warning_not_a_path_claim():
    state = alb_state(ready=False)
    state.aws.target_health = mismatch_health("404")
    [f] = run_check(ID, state)
    assert f.status == Status.WARN
    assert set(f.supports) == {"healthcheck-path", "pods-not-ready"}
    assert f.cause == ""


def test_readiness_on_another_port_moves_the_health_check_port_with_ip_targets():
    c = container(ports=[{"name": "http", "containerPort": 80}, {"name": "mgmt", "containerPort": 8081}], readiness_path="/health", readiness_port="mgmt")
    state = make_state(service(type="NodePort"), pod("web-1", containers=[c]), ingress(annotations={ALB + "target-type": "ip"}))
    state.aws.target_health = mismatch_health("404")
    [f] = run_check(ID, state)
    assert f.status == Status.FAIL
    assert f.fix.patch == {"metadata": {"annotations": {ALB + "healthcheck-path": "/health", ALB + "healthcheck-port": "8081"}}}


def test_instance_targets_on_clusterip_service_fail():
    state = alb_state(annotations={ALB + "target-type": None, ALB + "healthcheck-path": "/healthz"}, svc_type="ClusterIP")
    [f] = run_check(ID, state)
    assert f.status == Status.FAIL
    assert f.cause == "controller"
    assert "ClusterIP" in f.summary and "instance" in f.summary
    assert "target-type absent -> instance (controller default)" in f.evidence[0]


def test_invalid_annotations_each_named():
    state = alb_state(
        annotations={
            ALB + "healthcheck-path": "/healthz",
            ALB + "success-codes": "200-600",
            ALB + "healthcheck-interval-seconds": "ten",
            ALB + "healthcheck-protocol": "TCP",
            ALB + "healthcheck-port": "70000",
            ALB + "scheme": "public",
        }
    )
    findings = run_check(ID, state)
    assert all(f.status == Status.FAIL for f in findings)
    text = " | ".join(f.summary for f in findings)
    for needle in ("success-codes '200-600'", "healthcheck-interval-seconds 'ten'", "healthcheck-protocol 'TCP'", "healthcheck-port '70000'", "scheme 'public'"):
        assert needle in text


def test_timeout_not_below_interval():
    state = alb_state(annotations={ALB + "healthcheck-path": "/healthz", ALB + "healthcheck-interval-seconds": "5", ALB + "healthcheck-timeout-seconds": "5"})
    [f] = run_check(ID, state)
    assert f.status == Status.FAIL and "timeout 5s is not below the interval 5s" in f.summary
    assert "healthcheck-timeout-seconds=4" in f.next_step


def test_backend_port_missing_on_service():
    state = make_state(service(type="NodePort"), healthz_pod(), ingress(port=8080, annotations={ALB + "target-type": "ip", ALB + "healthcheck-path": "/healthz"}))
    [f] = run_check(ID, state)
    assert f.status == Status.FAIL
    assert "port 8080" in f.summary and "80 (http)" in f.summary


def test_named_backend_port_is_resolved():
    state = make_state(service(type="NodePort"), healthz_pod(), ingress(port="http", annotations={ALB + "target-type": "ip", ALB + "healthcheck-path": "/healthz"}))
    [f] = run_check(ID, state)
    assert f.status == Status.PASS


def test_service_annotation_overrides_ingress_and_blocks_ingress_fix():
    svc_ann = {ALB + "healthcheck-path": "/"}
    state = make_state(
        service(type="NodePort", annotations=svc_ann), healthz_pod(), ingress(annotations={ALB + "target-type": "ip", ALB + "healthcheck-path": "/healthz"})
    )
    state.aws.target_health = mismatch_health("404")
    [f] = run_check(ID, state)
    assert f.status == Status.FAIL and f.cause == "healthcheck-path"
    assert f.fix is None
    assert "annotate svc web" in f.next_step


def test_skips_without_ingress_and_for_other_classes():
    [f] = run_check(ID, make_state(service(), healthz_pod()))
    assert f.status == Status.SKIP and "No Ingress" in f.summary
    [f] = run_check(ID, make_state(service(), healthz_pod(), ingress(ingress_class="nginx")))
    assert f.status == Status.SKIP and "nginx" in f.summary


def test_ingress_read_failure_is_an_error_naming_the_permission():
    state = make_state(service(), healthz_pod(), ingress())
    state.read_errors["k8s.ingresses"] = "forbidden: cannot list ingresses.networking.k8s.io"
    [f] = run_check(ID, state)
    assert f.status == Status.ERROR and "forbidden" in f.summary


def test_odd_input_does_not_crash():
    ing = ingress(annotations={ALB + "success-codes": "", ALB + "healthcheck-port": "http"})
    ing["spec"]["rules"].append({"http": {"paths": [{"backend": {}}, {"path": "/x"}]}})
    p = pod("web-1", containers=[{"name": "app", "readinessProbe": {"httpGet": {"port": "nope"}}, "ports": "bad"}])
    findings = run_check(ID, make_state(service(type="NodePort"), p, ing), odd=True)
    assert findings and all(f.status in (Status.FAIL, Status.WARN, Status.PASS) for f in findings)


def test_ranking_example_verdict_is_the_path_fix():
    """ELB says 404 + readiness /healthz + no healthcheck-path annotation => this finding leads with FIX-HEALTHCHECK-PATH."""
    state = alb_state()
    state.aws.target_health = mismatch_health("404")
    reg = default_registry()
    mine = run_check(ID, state) + run_check("K8S-READINESS-VS-LB", state)
    target_health = Finding("AWS-TARGET-HEALTH", Status.FAIL, "1 target unhealthy: Target.ResponseCodeMismatch [404]", supports=("healthcheck-path", "app-error"))
    noise = Finding("K8S-EVENTS", Status.WARN, "some warning events", supports=("app-error",))
    priors = {s.id: s.severity for s in reg.all()}
    ordered, verdict = rank(mine + [target_health, noise], priors)
    assert verdict.status == Status.FAIL
    assert verdict.check_id == ID
    assert ordered[0].fix is not None and ordered[0].fix.id == "FIX-HEALTHCHECK-PATH"
    assert ordered[0].cause == "healthcheck-path"


def test_an_unverified_path_mismatch_gives_a_curl_of_a_real_pod_not_placeholders():
    """Readiness on /healthz, the ALB on / and no health result yet: the command names a ready pod and its port."""
    [f] = run_check(ID, alb_state())
    assert f.status == Status.WARN and "nothing shows yet" in f.summary, f
    assert "<pod-ip>" not in f.next_step and "<port>" not in f.next_step
    assert "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.2:80/  (if it is not 200" in f.next_step
    assert ";" not in f.next_step
