"""K8S-ENDPOINTS: ready endpoints from EndpointSlices, falling back to Endpoints."""

from checks.model import Status
from tests.factories import endpoint_slice, make_state, pod, run_check, service

ID = "K8S-ENDPOINTS"


def legacy_endpoints(ready=(("127.0.0.2", "web-1"),), not_ready=()):
    return {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": "web", "namespace": "shop"},
        "subsets": [
            {
                "addresses": [{"ip": ip, "targetRef": {"kind": "Pod", "name": n}} for ip, n in ready],
                "notReadyAddresses": [{"ip": ip, "targetRef": {"kind": "Pod", "name": n}} for ip, n in not_ready],
                "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
            }
        ],
    }


def test_passes_with_ready_endpoints():
    [f] = run_check(ID, make_state(service(), pod("web-1"), endpoint_slice()))
    assert f.status == Status.PASS
    assert "1 ready endpoint" in f.summary
    assert "ready 127.0.0.2 ports 80/TCP -> pod web-1 on node node-1" in f.evidence


def test_no_addresses_because_selector_matches_nothing():
    state = make_state(service(selector={"app": "web-1"}), pod("web-1"), endpoint_slice(endpoints=[]))
    [f] = run_check(ID, state)
    assert f.status == Status.FAIL
    assert "selector app=web-1 matches no pod" in f.summary
    assert f.supports == ("selector",)
    assert f.cause == ""  # a symptom, never the cause


def test_no_ready_address_ties_to_pod_reason():
    p = pod("web-1", ready=False, waiting_reason="CrashLoopBackOff", restarts=4, last_terminated_reason="Error")
    state = make_state(service(), p, endpoint_slice(endpoints=[("127.0.0.2", False, "web-1", "node-1")]))
    [f] = run_check(ID, state)
    assert f.status == Status.FAIL
    assert "no ready endpoint" in f.summary
    assert any(e.startswith("NOT ready 127.0.0.2") and "pod web-1: CrashLoopBackOff" in e for e in f.evidence)
    assert f.supports == ("pods-not-ready",)
    assert "kubectl describe pod web-1 -n shop" in f.next_step


def test_some_not_ready_is_a_warning():
    state = make_state(
        service(),
        pod("web-1"),
        pod("web-2", ip="127.0.0.3", ready=False),
        endpoint_slice(endpoints=[("127.0.0.2", True, "web-1", "node-1"), ("127.0.0.3", False, "web-2", "node-1")]),
    )
    [f] = run_check(ID, state)
    assert f.status == Status.WARN
    assert "1 of 2 endpoints" in f.summary
    assert any("pod web-2: running but not ready" in e for e in f.evidence)


def test_falls_back_to_endpoints_object():
    state = make_state(service(), pod("web-1"), pod("web-2", ip="127.0.0.3", ready=False),
                       legacy_endpoints(not_ready=(("127.0.0.3", "web-2"),)))
    [f] = run_check(ID, state)
    assert f.status == Status.WARN
    assert "Read: Endpoints shop/web (no EndpointSlice read)" in f.evidence


def test_missing_object_with_selected_pods():
    [f] = run_check(ID, make_state(service(), pod("web-1")))
    assert f.status == Status.FAIL
    assert "although 1 pod(s) match" in f.summary
    assert "No EndpointSlice or Endpoints object exists" in f.evidence[0]


def test_skip_and_error():
    [f] = run_check(ID, make_state(service(), reads={"k8s.service"}))
    assert f.status == Status.SKIP and "not read in this diagnosis" in f.summary
    state = make_state(service())
    state.read_errors["k8s.endpoints"] = "forbidden: cannot list endpointslices.discovery.k8s.io in namespace shop"
    [f] = run_check(ID, state)
    assert f.status == Status.ERROR
    assert "endpointslices" in f.next_step


def test_odd_slice_does_not_crash():
    s = endpoint_slice()
    s["endpoints"] = [None, {"addresses": None}, {"addresses": ["127.0.0.9"], "conditions": None}]
    s["ports"] = None
    [f] = run_check(ID, make_state(service(), pod("web-1"), s), odd=True)
    assert f.status == Status.PASS  # absent "ready" means ready (discovery.k8s.io/v1)
    assert any("127.0.0.9 ports no ports" in e for e in f.evidence)


def test_does_not_blame_the_selector_when_pods_were_not_readable():
    state = make_state(service(), endpoint_slice(endpoints=[]))
    state.read_errors["k8s.pods"] = "forbidden: cannot list pods in namespace shop"
    [f] = run_check(ID, state)
    assert f.status == Status.FAIL
    assert "could not be read" in f.summary and "forbidden" in f.summary
    assert f.supports == ()
