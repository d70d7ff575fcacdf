"""K8S-READINESS-VS-LB: the pods' readiness probe vs what the load balancer probes."""

from checks.model import Status
from checks.state import ProbeResult
from tests.factories import container, ingress, make_state, pod, run_check, service

ID = "K8S-READINESS-VS-LB"
SVC = "service.beta.kubernetes.io/aws-load-balancer-"
NLB_HTTP = {SVC + "type": "external", SVC + "nlb-target-type": "ip", SVC + "healthcheck-protocol": "HTTP"}
TG = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/k8s-shop-web-abc/0123456789abcdef"


def ready_pod(path="/healthz", port=None, ready=True, name="web-1", ip="127.0.0.2", ports=None):
    return pod(name, ip=ip, ready=ready, containers=[container(readiness_path=path, readiness_port=port, ports=ports)])


def probe(path, code, port=80):
    return ProbeResult(kind="http", subject="pod shop/web-1", address="127.0.0.2", port=port, ok=200 <= code < 400, path=path, status_code=code, expected="200-399")


def test_passes_when_paths_agree():
    ann = dict(NLB_HTTP, **{SVC + "healthcheck-path": "/healthz"})
    [f] = run_check(ID, make_state(service(annotations=ann), ready_pod()))
    assert f.status == Status.PASS
    assert "/healthz" in f.summary
    assert any("same path as the readiness probe" in e for e in f.evidence)


def test_nlb_path_fails_while_readiness_passes():
    state = make_state(service(annotations=NLB_HTTP), ready_pod(), ready_pod(name="web-2", ip="127.0.0.3"))
    state.probes = [probe("/", 404), probe("/healthz", 200)]
    [f] = run_check(ID, state)
    assert f.status == Status.FAIL and f.cause == "healthcheck-path"
    assert "checks / " in f.summary and "404" in f.summary and "/healthz" in f.summary
    assert any("GET 127.0.0.2:80/ -> 404" in e for e in f.evidence)
    assert f.fix is not None and f.fix.id == "FIX-NLB-ANNOTATION"
    assert f.fix.patch == {"metadata": {"annotations": {SVC + "healthcheck-path": "/healthz"}}}
    assert f.fix.target.kind == "Service" and f.fix.target.resource_version == "1000"
    assert f.fix.command == f"kubectl -n shop annotate svc web {SVC}healthcheck-path=/healthz --overwrite"


def test_mismatch_without_evidence_warns():
    [f] = run_check(ID, make_state(service(annotations=NLB_HTTP), ready_pod()))
    assert f.status == Status.WARN and f.supports == ("healthcheck-path",) and f.cause == ""
    # one command on a real target (a ready pod: ip targets) and port, the advice after it
    assert f.next_step.startswith("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.2:80/  (from a host in the VPC"), f.next_step


def test_a_checked_port_nothing_serves_without_failures_names_a_real_target():
    ann = dict(NLB_HTTP, **{SVC + "healthcheck-path": "/healthz", SVC + "healthcheck-port": "8081"})
    [f] = run_check(ID, make_state(service(annotations=ann), ready_pod()))
    assert f.status == Status.WARN and f.next_step.startswith("nc -zv -w 5 127.0.0.2 8081"), f.next_step


def test_mismatch_with_lb_path_passing_is_a_pass():
    state = make_state(service(annotations=NLB_HTTP), ready_pod())
    state.probes = [probe("/", 200)]
    [f] = run_check(ID, state)
    assert f.status == Status.PASS


def test_named_readiness_port_is_resolved_and_moved_with_ip_targets():
    ports = [{"name": "http", "containerPort": 80}, {"name": "admin", "containerPort": 9000}]
    state = make_state(service(annotations=NLB_HTTP), ready_pod(path="/ready", port="admin", ports=ports))
    state.probes = [probe("/", 404)]
    [f] = run_check(ID, state)
    assert f.status == Status.FAIL
    assert any("readiness uses port 9000" in e for e in f.evidence)
    assert f.fix.patch["metadata"]["annotations"] == {SVC + "healthcheck-path": "/ready", SVC + "healthcheck-port": "9000"}


def test_ingress_case_supports_alb_ingress_instead_of_claiming():
    state = make_state(service(type="NodePort"), ready_pod(), ingress(annotations={"alb.ingress.kubernetes.io/target-type": "ip"}))
    state.aws.target_health = {TG: [{"Target": {"Id": "127.0.0.2", "Port": 80}, "TargetHealth": {"State": "unhealthy", "Reason": "Target.ResponseCodeMismatch", "Description": "Health checks failed with these codes: [404]"}}]}
    [f] = run_check(ID, state)
    assert f.status == Status.WARN and f.cause == "" and "healthcheck-path" in f.supports
    assert f.fix is None and "K8S-ALB-INGRESS" in f.summary
    assert "alb.ingress.kubernetes.io/healthcheck-path=/healthz" in f.next_step


def test_tcp_health_check_ignores_the_path():
    [f] = run_check(ID, make_state(service(annotations={SVC + "type": "nlb"}), ready_pod()))
    assert f.status == Status.PASS and "does not ask the app for a path (TCP)" in f.summary
    assert any("TCP check only opens a connection" in e for e in f.evidence)


def test_local_instance_targets_are_answered_by_kube_proxy():
    svc = service(annotations={SVC + "type": "nlb"}, external_traffic_policy="Local", healthCheckNodePort=32000)
    state = make_state(svc, ready_pod())
    state.probes = [probe("/healthz", 503, port=32000)]
    [f] = run_check(ID, state)
    assert f.status == Status.PASS and "answered by kube-proxy" in f.summary
    assert any("kube-proxy answers" in e for e in f.evidence)


def test_numeric_port_nothing_serves_fails_with_timeout_evidence():
    ann = dict(NLB_HTTP, **{SVC + "healthcheck-path": "/healthz", SVC + "healthcheck-port": "8081"})
    state = make_state(service(annotations=ann), ready_pod())
    state.aws.target_health = {TG: [{"Target": {"Id": "127.0.0.2", "Port": 80}, "TargetHealth": {"State": "unhealthy", "Reason": "Target.Timeout", "Description": "Request timed out"}}]}
    [f] = run_check(ID, state)
    assert f.status == Status.FAIL and f.cause == "healthcheck-port"
    assert "port 8081" in f.summary
    assert f.fix.patch == {"metadata": {"annotations": {SVC + "healthcheck-port": "traffic-port"}}}


def test_tencent_clb_path_mismatch_names_tke_service_config():
    svc = service(annotations={"service.kubernetes.io/loadbalance-id": "lb-abc"})
    state = make_state(svc, ready_pod())
    state.tencent.load_balancers = [{"LoadBalancerId": "lb-abc"}]
    state.tencent.listeners = {"lb-abc": [{"ListenerId": "lbl-1", "Protocol": "TCP", "Port": 80, "HealthCheck": {"HealthSwitch": 1, "CheckType": "HTTP", "HttpCheckPath": "/", "HttpCode": 2}}]}
    state.probes = [probe("/", 404)]
    [f] = run_check(ID, state)
    assert f.status == Status.FAIL and f.cause == "healthcheck-path"
    assert f.fix is None and "TkeServiceConfig" in f.next_step


def test_skips():
    [f] = run_check(ID, make_state(service(annotations=NLB_HTTP), pod()))
    assert f.status == Status.SKIP and "no HTTP readiness probe" in f.summary
    [f] = run_check(ID, make_state(service(annotations=NLB_HTTP)))
    assert f.status == Status.SKIP and "No pod is selected" in f.summary
    [f] = run_check(ID, make_state(service(type="ClusterIP"), ready_pod()))
    assert f.status == Status.SKIP and "unknown" in f.summary
    state = make_state(service(annotations=NLB_HTTP), ready_pod())
    state.read_errors["k8s.pods"] = "forbidden: pods is forbidden"
    [f] = run_check(ID, state)
    assert f.status == Status.ERROR
