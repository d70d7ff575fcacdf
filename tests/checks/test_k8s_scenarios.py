"""Scenarios across this layer's checks: the ranker puts the real cause first, healthy stays quiet."""

import time

from checks.model import Status
from checks.registry import default_registry
from checks.runner import build_report
from tests import factories
from tests.factories import container, endpoint_slice, event, make_state, node, pod, run_check, service

MINE = (
    "K8S-SVC-EXISTS", "K8S-POD-READY", "K8S-SELECTOR", "K8S-ENDPOINTS", "K8S-TARGETPORT",
    "K8S-EVENTS", "K8S-READINESS-GATE", "K8S-KUBE-PROXY", "K8S-NETWORKPOLICY",
)


def kube_proxy_objects(*nodes):
    ds = factories.daemonset(desired=len(nodes))
    pods = [pod(f"kube-proxy-{n}", namespace="kube-system", labels={"k8s-app": "kube-proxy"}, node=n) for n in nodes]
    return [ds, *pods]


def report(state):
    reg = default_registry()
    return build_report(state, [reg.get(i) for i in MINE], time.monotonic())


def healthy_objects():
    return [
        service(),
        node("node-1", internal_ip="127.0.1.1"),
        pod("web-1"),
        pod("web-2", ip="127.0.0.3"),
        endpoint_slice(endpoints=[("127.0.0.2", True, "web-1", "node-1"), ("127.0.0.3", True, "web-2", "node-1")]),
        *kube_proxy_objects("node-1"),
    ]


def test_healthy_service_has_no_failing_finding():
    rep = report(make_state(*healthy_objects()))
    assert rep.verdict.status == Status.PASS
    statuses = {f.check_id: f.status for f in rep.findings}
    assert not [c for c, s in statuses.items() if s in (Status.FAIL, Status.WARN, Status.ERROR)], statuses
    assert statuses["K8S-SELECTOR"] == statuses["K8S-TARGETPORT"] == statuses["K8S-KUBE-PROXY"] == Status.PASS


def test_selector_mismatch_ranks_selector_first_with_endpoints_agreeing():
    objs = healthy_objects()
    objs[0] = service(selector={"app": "web-1"})
    objs[4] = endpoint_slice(endpoints=[])
    rep = report(make_state(*objs))
    assert rep.verdict.check_id == "K8S-SELECTOR"
    top, second = rep.findings[0], rep.findings[1]
    assert top.check_id == "K8S-SELECTOR" and second.check_id == "K8S-ENDPOINTS"
    assert top.score > second.score


def test_crashloop_ranks_pod_ready_first_and_events_corroborate():
    objs = healthy_objects()
    objs[3] = pod("web-2", ip="127.0.0.3", ready=False, waiting_reason="CrashLoopBackOff", restarts=9, last_terminated_reason="Error")
    objs[4] = endpoint_slice(endpoints=[("127.0.0.2", True, "web-1", "node-1"), ("127.0.0.3", False, "web-2", "node-1")])
    objs.append(event("Pod", "web-2", reason="BackOff", message="Back-off restarting failed container app in pod web-2"))
    rep = report(make_state(*objs))
    assert rep.verdict.check_id == "K8S-POD-READY"
    pod_ready = rep.findings[0]
    assert pod_ready.score >= 100 + 85 + 2 * 30  # ENDPOINTS and EVENTS both support pods-not-ready


def test_targetport_mismatch_is_the_verdict():
    objs = healthy_objects()
    objs[0] = service(ports=[{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}])
    rep = report(make_state(*objs))
    assert rep.verdict.check_id == "K8S-TARGETPORT"
    assert rep.findings[0].fix.id == "FIX-TARGETPORT"


def test_missing_service_skips_the_rest():
    rep = report(make_state(service("web-frontend"), target="shop/web"))
    assert rep.verdict.check_id == "K8S-SVC-EXISTS"
    assert all(f.status == Status.SKIP for f in rep.findings if f.check_id != "K8S-SVC-EXISTS")


def test_evidence_stays_bounded_with_many_broken_pods():
    pods = [pod(f"web-{i}", ip=f"127.0.{i // 250}.{i % 250 + 2}", ready=False, waiting_reason="CrashLoopBackOff")
            for i in range(500)]
    slice_ = endpoint_slice(endpoints=[(p["status"]["podIP"], False, p["metadata"]["name"], "node-1") for p in pods])
    state = make_state(service(), *pods, slice_, node("node-1"), *kube_proxy_objects("node-1"))
    for check_id in MINE:
        for f in run_check(check_id, state):
            assert len(f.evidence) <= 60, (check_id, len(f.evidence))
            assert "\n" not in f.summary and len(f.summary) < 400, check_id


def test_no_check_crashes_on_skeletal_objects():
    skeletal = [
        {"kind": "Service", "metadata": {"name": "web", "namespace": "shop"}},
        {"kind": "Pod", "metadata": {"name": "p", "namespace": "shop"}},
        {"kind": "EndpointSlice", "metadata": {"name": "s", "namespace": "shop", "labels": {"kubernetes.io/service-name": "web"}}},
        {"kind": "Event", "metadata": {"name": "e", "namespace": "shop"}},
        {"kind": "NetworkPolicy", "metadata": {"name": "n", "namespace": "shop"}},
        {"kind": "DaemonSet", "metadata": {"name": "kube-proxy", "namespace": "kube-system"}},
        {"kind": "Pod", "metadata": {"name": "kp", "namespace": "kube-system", "labels": {"k8s-app": "kube-proxy"}}},
        {"kind": "Node", "metadata": {"name": "n1"}},
    ]
    state = make_state(*skeletal)
    for check_id in MINE:
        for f in run_check(check_id, state, odd=True):
            assert f.status != Status.ERROR or "crashed" not in f.summary, (check_id, f.summary)
    p = pod("web-1", containers=[container(ports=None)])
    p["spec"]["containers"][0]["ports"] = "80"
    state = make_state(service(), p)
    for check_id in MINE:
        for f in run_check(check_id, state, odd=True):
            assert "crashed" not in f.summary, (check_id, f.summary)
