"""K8S-EVENTS: Warning events on the Service, its pods and Ingresses, with inferred mechanisms."""

from checks.model import Status
from tests.factories import event, ingress, make_state, pod, run_check, service

ID = "K8S-EVENTS"


def test_passes_without_warning_events():
    state = make_state(service(), pod("web-1"), event("Pod", "web-1", type="Normal", reason="Pulled", message="pulled"))
    [f] = run_check(ID, state)
    assert f.status == Status.PASS
    assert "No Warning events" in f.summary
    assert f.evidence == ["1 Normal event(s) on these objects"]


def test_readiness_probe_404_is_surfaced_with_mechanisms():
    state = make_state(
        service(),
        pod("web-1"),
        event("Pod", "web-1", count=12, last_timestamp="2026-11-21T10:07:00Z"),
        event("Pod", "other-pod", message="Readiness probe failed: unrelated"),  # not selected
        event("Service", "web", namespace="other", reason="SyncLoadBalancerFailed", message="other namespace"),
    )
    [f] = run_check(ID, state)
    assert f.status == Status.WARN
    assert f.cause == ""  # events are symptoms
    assert "1 Warning event(s)" in f.summary
    assert "Readiness probe failed: HTTP probe failed with statuscode: 404" in f.summary
    assert "Pod shop/web-1: Unhealthy (x12, last 2026-11-21T10:07:00Z): Readiness probe failed" in f.evidence[1]
    assert f.evidence[0].startswith("1 probe-failure event(s) on pods: web-1")
    assert {"pods-not-ready", "healthcheck-path"} <= set(f.supports)
    assert not any("other" in e for e in f.evidence)
    assert "wget" in f.next_step and "web-1" in f.next_step


def test_controller_errors_on_service_and_ingress():
    state = make_state(
        service(),
        pod("web-1"),
        ingress(),
        event("Ingress", "web", reason="FailedDeployModel",
              message="Failed deploy model due to AccessDenied: User is not authorized to perform: elasticloadbalancing:CreateTargetGroup",
              last_timestamp="2026-11-21T10:09:00Z"),
        event("Service", "web", reason="SyncLoadBalancerFailed", message="Error syncing load balancer: failed to ensure security group",
              last_timestamp="2026-11-21T10:08:00Z"),
    )
    [f] = run_check(ID, state)
    assert f.status == Status.WARN
    assert "Ingress web FailedDeployModel" in f.summary  # latest first
    assert "controller" in f.supports and "network-sg" in f.supports
    assert "aws-load-balancer-controller" in f.next_step


def test_connection_refused_points_at_listen_address():
    state = make_state(service(), pod("web-1"),
                       event("Pod", "web-1", message='Readiness probe failed: Get "http://127.0.0.2:8080/": dial tcp 127.0.0.2:8080: connect: connection refused'))
    [f] = run_check(ID, state)
    assert "listen-localhost" in f.supports and "targetport" in f.supports


def test_events_k8s_io_shape_and_duplicates_are_merged():
    ev = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": "web-1.x", "namespace": "shop"},
        "regarding": {"kind": "Pod", "name": "web-1", "namespace": "shop"},
        "reason": "BackOff",
        "note": "Back-off restarting failed container app in pod web-1",
        "type": "Warning",
        "eventTime": "2026-11-21T10:00:00.000000Z",
        "series": {"count": 4, "lastObservedTime": "2026-11-21T10:03:00.000000Z"},
    }
    ev2 = dict(ev, metadata={"name": "web-1.y", "namespace": "shop"}, series={"count": 2, "lastObservedTime": "2026-11-21T10:04:00.000000Z"})
    [f] = run_check(ID, make_state(service(), pod("web-1"), ev, ev2))
    assert f.status == Status.WARN
    assert "(x6, last 2026-11-21T10:04:00.000000Z)" in f.evidence[0]
    assert "app-error" in f.supports


def test_error_names_missing_permission():
    state = make_state(service(), pod("web-1"))
    state.read_errors["k8s.events"] = "forbidden: cannot list events in namespace shop"
    [f] = run_check(ID, state)
    assert f.status == Status.ERROR
    assert f.summary == "Could not read the events of namespace shop: forbidden: cannot list events in namespace shop"
    assert f.next_step.startswith("Grant RBAC verb 'list' on 'events' in namespace shop to the lbhealth worker's ServiceAccount")
    assert "`kubectl get events -n shop -o yaml`" in f.next_step  # what to run meanwhile, by hand


def test_skip_when_not_read():
    [f] = run_check(ID, make_state(service(), reads={"k8s.service"}))
    assert f.status == Status.SKIP
    assert "not read in this diagnosis" in f.summary and "k8s." not in f.summary


def test_odd_events_do_not_crash():
    bad = {"kind": "Event", "metadata": {"name": "x", "namespace": "shop"}, "involvedObject": None, "type": "Warning"}
    bad2 = {"kind": "Event", "metadata": {"name": "y", "namespace": "shop"}, "involvedObject": {"kind": "Service", "name": "web"},
            "type": "Warning", "count": "many", "message": None}
    [f] = run_check(ID, make_state(service(), bad, bad2), odd=True)
    assert f.status == Status.WARN
    assert "(x1, last ?)" in f.evidence[0]


def test_owner_replicaset_events_are_included():
    p = pod("web-7d9-abc")
    p["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d9", "uid": "uid-shop-web-7d9",
                                      "controller": True, "blockOwnerDeletion": True}]
    state = make_state(service(), p, event("ReplicaSet", "web-7d9", reason="FailedCreate",
                                            message='pods "web-7d9-x" is forbidden: exceeded quota: compute, requested: cpu=2'),
                       event("ReplicaSet", "other-1", reason="FailedCreate", message="unrelated"))
    [f] = run_check(ID, state)
    assert f.status == Status.WARN
    assert "ReplicaSet web-7d9 FailedCreate" in f.summary
    assert not any("unrelated" in e for e in f.evidence)
    assert "pods-not-ready" in f.supports


def test_no_pod_at_all_looks_at_workloads_named_like_the_service():
    state = make_state(service(), event("ReplicaSet", "web-5c4", reason="FailedCreate", message="exceeded quota: pods"),
                       event("ReplicaSet", "webshop-1", reason="FailedCreate", message="not this one"))
    [f] = run_check(ID, state)
    assert f.status == Status.WARN
    assert "Service shop/web, its 0 pod(s) and their workloads;" in f.summary
    assert len([e for e in f.evidence if e.startswith("ReplicaSet")]) == 1


def test_multi_line_messages_become_one_line():
    msg = 'error creating target group: "ValidationError: Health check interval must be at least 5 seconds\n\tstatus code: 400"'
    [f] = run_check(ID, make_state(service(), event("Service", "web", reason="SyncLoadBalancerFailed", message=msg)))
    assert "\n" not in f.summary and "\t" not in f.summary
    assert "seconds status code: 400" in f.evidence[0]
