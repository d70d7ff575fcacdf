"""PROBE-TCP over collected probe results."""

from __future__ import annotations

from checks.model import Status
from checks.state import ProbeResult
from tests import factories as f


def state_with(*results: ProbeResult, protocol: str = "TCP", **options):
    svc = f.service(ports=[{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP", "nodePort": 30080}],
                    annotations={"service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
                                 "service.beta.kubernetes.io/aws-load-balancer-healthcheck-protocol": protocol})
    state = f.make_state(svc, f.pod("web-1", ip="127.0.0.2"), f.pod("web-2", ip="127.0.0.3"), probe=True, **options)
    state.probes.extend(results)
    return state


def tcp(ip: str, *, ok: bool, error: str = "", pod: str = "web-1"):
    return ProbeResult(kind="tcp", subject=f"pod shop/{pod}", address=ip, port=8080, ok=ok, error=error, elapsed_ms=1.0, timeout_s=10.0)


def run(state):
    return f.run_check("PROBE-TCP", state)


def test_fires_on_refused_with_nc_step():
    [fd] = run(state_with(tcp("127.0.0.2", ok=False, error="connection refused"), tcp("127.0.0.3", ok=True, pod="web-2")))
    assert fd.status == Status.FAIL and fd.summary == "1 of 2 target(s) refuse connections on port 8080"
    assert "nc -z -v -w 10 127.0.0.2 8080" in fd.next_step
    assert set(fd.supports) == {"targetport", "listen-localhost", "pods-not-ready"}


def test_fires_on_timeout_with_network_mechanisms():
    [fd] = run(state_with(tcp("127.0.0.2", ok=False, error="timeout after 10s")))
    assert fd.status == Status.FAIL and "within 10s" in fd.summary
    assert set(fd.supports) == {"network-sg", "network-policy", "kube-proxy"}


def test_http_health_check_says_it_is_the_connection_under_it():
    [fd] = run(state_with(tcp("127.0.0.2", ok=False, error="connection refused"), protocol="HTTP"))
    assert "the health check is HTTP" in fd.summary


def test_passes():
    [fd] = run(state_with(tcp("127.0.0.2", ok=True), tcp("127.0.0.3", ok=True, pod="web-2")))
    assert fd.status == Status.PASS and "accept TCP connections on port 8080" in fd.summary


def test_skips():
    s = state_with()
    s.skipped_reads["probe"] = "--no-probe given"
    [fd] = run(s)
    assert fd.status == Status.SKIP and "--no-probe given" in fd.summary
    s = f.make_state(f.service(type="ClusterIP"), probe=True)
    [fd] = run(s)
    assert fd.status == Status.SKIP
    s = state_with()
    s.skipped_reads["probe.allow"] = "1 target(s) outside the probe allow-list (127.0.0.0/8) not probed: 192.0.2.1:8080"
    [fd] = run(s)
    assert fd.status == Status.SKIP and "outside the probe allow-list" in fd.summary
