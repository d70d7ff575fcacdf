"""PROBE-HTTP over collected probe results (pure: no network here)."""

from __future__ import annotations

from checks.model import Status
from checks.state import ProbeResult
from tests import factories as f

TG = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/k8s-shop-web/abc"


def state_with(*results: ProbeResult, path: str = "/healthz", codes: str = "200", **options):
    svc = f.service(ports=[{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP", "nodePort": 30080}])
    pods = [f.pod("web-1", ip="127.0.0.2"), f.pod("web-2", ip="127.0.0.3")]
    state = f.make_state(svc, *pods, probe=True, **options)
    state.aws.target_groups = [{"TargetGroupArn": TG, "TargetGroupName": "k8s-shop-web", "TargetType": "ip", "Port": 8080,
                                "HealthCheckProtocol": "HTTP", "HealthCheckPort": "traffic-port", "HealthCheckPath": path,
                                "HealthCheckTimeoutSeconds": 5, "Matcher": {"HttpCode": codes}}]
    state.probes.extend(results)
    state.reads_done.add("probe")
    return state


def http(ip: str, code: int | None, *, ok: bool, error: str = "", path: str = "/healthz", pod: str = "web-1", ms: float = 3.0, expected: str = "200"):
    return ProbeResult(kind="http", subject=f"pod shop/{pod}", address=ip, port=8080, ok=ok, path=path, host_header=f"{ip}:8080",
                       status_code=code, elapsed_ms=ms, error=error, expected=expected, timeout_s=5.0)


def run(state):
    return f.run_check("PROBE-HTTP", state)


def test_fires_on_404_with_exact_curl_and_path_mechanism():
    state = state_with(http("127.0.0.2", 404, ok=False, error="status 404 not in 200"),
                       http("127.0.0.3", 404, ok=False, error="status 404 not in 200", pod="web-2"))
    [fd] = run(state)
    assert fd.status == Status.FAIL
    assert fd.summary.startswith("2 of 2 target(s) answer 404 to GET /healthz; the load balancer accepts 200")
    assert "curl -sS -o /dev/null -w '%{http_code}' --max-time 5 http://127.0.0.2:8080/healthz" in fd.next_step
    assert fd.cause == "healthcheck-path" and set(fd.supports) >= {"healthcheck-path", "app-error"}
    assert any("pod shop/web-1 127.0.0.2:8080: GET /healthz" in e and "-> 404" in e for e in fd.evidence)


def test_fires_on_redirect_and_names_the_location():
    err = "status 302 not in 200; redirect to /login (not followed: the load balancer does not follow redirects)"
    [fd] = run(state_with(http("127.0.0.2", 302, ok=False, error=err)))
    assert fd.status == Status.FAIL and "302" in fd.summary and "redirects to /login" in fd.summary
    assert "does not follow redirects" in fd.next_step


def test_timeout_supports_network_mechanisms():
    [fd] = run(state_with(http("127.0.0.2", None, ok=False, error="timeout after 5s")))
    assert fd.status == Status.FAIL and "within the load balancer's 5s timeout" in fd.summary
    assert {"network-sg", "network-policy", "kube-proxy"} <= set(fd.supports) and fd.cause == ""


def test_refused_supports_closed_port_mechanisms():
    [fd] = run(state_with(http("127.0.0.2", None, ok=False, error="connection refused")))
    assert fd.status == Status.FAIL and "refuse connections on port 8080" in fd.summary
    assert set(fd.supports) == {"targetport", "listen-localhost", "pods-not-ready"}


def test_5xx_is_an_app_error():
    [fd] = run(state_with(http("127.0.0.2", 503, ok=False, error="status 503 not in 200")))
    assert fd.cause == "app-error" and "app-error" in fd.supports


def test_partial_failure_fails_and_counts():
    [fd] = run(state_with(http("127.0.0.2", 200, ok=True), http("127.0.0.3", None, ok=False, error="timeout after 5s", pod="web-2")))
    assert fd.status == Status.FAIL and fd.summary.startswith("1 of 2 target(s)")


def test_passes_when_every_target_answers_accepted_code():
    [fd] = run(state_with(http("127.0.0.2", 200, ok=True), http("127.0.0.3", 200, ok=True, pod="web-2")))
    assert fd.status == Status.PASS and "answer /healthz with 200" in fd.summary


def test_warns_close_to_timeout():
    [fd] = run(state_with(http("127.0.0.2", 200, ok=True, ms=4600)))
    assert fd.status == Status.WARN and "close to the load balancer's 5s timeout" in fd.summary


def test_skip_when_probes_off_or_offline():
    s = state_with()
    s.skipped_reads["probe"] = "--no-probe given"
    [fd] = run(s)
    assert fd.status == Status.SKIP and "--no-probe given" in fd.summary
    s = state_with(offline=True)
    s.skipped_reads["probe"] = "offline dump: probes need the live network"
    [fd] = run(s)
    assert fd.status == Status.SKIP and "offline dump" in fd.summary


def test_skip_when_health_check_is_tcp():
    s = state_with()
    s.aws.target_groups[0]["HealthCheckProtocol"] = "TCP"
    [fd] = run(s)
    assert fd.status == Status.SKIP and "see PROBE-TCP" in fd.summary


def test_skip_when_every_target_was_not_probed():
    s = state_with()
    s.skipped_reads["probe.allow"] = "1 target(s) outside the probe allow-list (127.0.0.0/8) not probed: 192.0.2.1:8080"
    [fd] = run(s)
    assert fd.status == Status.SKIP
    assert fd.summary == "No HTTP health-check target was probed: 1 target(s) outside the probe allow-list (127.0.0.0/8) not probed: 192.0.2.1:8080"


def test_not_probed_targets_are_named_in_evidence():
    s = state_with(http("127.0.0.2", 200, ok=True))
    s.skipped_reads["probe.cap"] = "probed 1 of 2 targets (cap 1); not probed: 127.0.0.3:8080"
    [fd] = run(s)
    assert fd.status == Status.PASS and "not probed: probed 1 of 2 targets (cap 1); not probed: 127.0.0.3:8080" in fd.evidence


def test_tencent_host_header_and_head_in_curl():
    svc = f.service(annotations={"service.cloud.tencent.com/direct-access": "true"})
    state = f.make_state(svc, f.pod("web-1", ip="127.0.0.2"), probe=True)
    state.tencent.load_balancers = [{"LoadBalancerId": "lb-1"}]
    state.tencent.listeners = {"lb-1": [{"ListenerId": "lbl-1", "Protocol": "TCP", "Port": 80, "HealthCheck": {
        "HealthSwitch": 1, "CheckType": "HTTP", "HttpCheckPath": "/health", "HttpCheckDomain": "mydomain.com", "HttpCode": 2, "TimeOut": 2}}]}
    state.probes.append(ProbeResult(kind="http", subject="pod shop/web-1", address="127.0.0.2", port=80, ok=False, path="/health",
                                    host_header="mydomain.com", status_code=404, error="status 404 not in 200-299",
                                    expected="200-299", timeout_s=2))
    [fd] = run(state)
    assert fd.status == Status.FAIL
    assert "curl -sS -o /dev/null -w '%{http_code}' -I -H 'Host: mydomain.com' --max-time 2 http://127.0.0.2:80/health" in fd.next_step
    assert "HEAD /health" in fd.summary


def test_odd_probe_results_do_not_crash():
    weird = ProbeResult(kind="http", subject="", address="", port=0, ok=False, error="", status_code=None)
    [fd] = run(state_with(weird))
    assert fd.status == Status.FAIL
