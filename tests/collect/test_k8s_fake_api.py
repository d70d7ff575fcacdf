"""The fake Kubernetes API server answers the official client as an API server would."""

from __future__ import annotations

import json

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests import factories as f
from tests.fakes.kube_api import FakeKubeAPI, merge_patch, parse_label_selector, strategic_merge_patch


def raw(resp) -> dict:
    try:
        return json.loads(resp.data)
    finally:
        resp.release_conn()


@pytest.fixture
def api():
    objs = [
        f.service("web", "shop", ports=[{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}, {"name": "admin", "port": 9000, "targetPort": 9000, "protocol": "TCP"}]),
        f.pod("web-1", "shop", labels={"app": "web", "tier": "front"}, ip="127.0.0.2", node="node-1"),
        f.pod("web-2", "shop", labels={"app": "web", "tier": "back"}, ip="127.0.0.3", node="node-2", phase="Pending", ready=False),
        f.pod("db-1", "shop", labels={"app": "db"}, ip="127.0.0.4", node="node-1"),
        f.pod("web-1", "other", labels={"app": "web"}, ip="127.0.0.5", node="node-1"),
        f.node("node-1"),
        f.node("node-2", internal_ip="127.0.1.2"),
        f.event("Pod", "web-1", "shop"),
        f.event("Service", "web", "shop", reason="SyncLoadBalancerFailed", message="Error syncing load balancer"),
        f.event("Pod", "web-2", "shop", type="Normal", reason="Scheduled", message="Successfully assigned"),
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kube-proxy", "namespace": "kube-system"}, "data": {"config.conf": "mode: iptables"}},
        {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "kube-proxy", "namespace": "kube-system", "generation": 1}, "spec": {"template": {"metadata": {}, "spec": {"containers": [{"name": "kube-proxy", "image": "kp:1", "command": ["kube-proxy"]}]}}}},
    ]
    with FakeKubeAPI(objs) as server, server.api_client() as c:
        server.core = client.CoreV1Api(c)
        server.apps = client.AppsV1Api(c)
        yield server


def names(resp: dict) -> list[str]:
    return [i["metadata"]["name"] + "@" + i["metadata"].get("namespace", "") for i in resp["items"]]


@pytest.mark.parametrize(
    "selector, expected",
    [
        ("app=web", ["web-1@shop", "web-2@shop"]),
        ("app==web,tier=front", ["web-1@shop"]),
        ("app!=web", ["db-1@shop"]),
        ("app in (web, db)", ["db-1@shop", "web-1@shop", "web-2@shop"]),
        ("app notin (web),tier!=x", ["db-1@shop"]),
        ("tier", ["web-1@shop", "web-2@shop"]),
        ("!tier", ["db-1@shop"]),
        ("app in (web),tier in (back)", ["web-2@shop"]),
    ],
)
def test_label_selectors(api, selector, expected):
    resp = raw(api.core.list_namespaced_pod("shop", label_selector=selector, _preload_content=False))
    assert names(resp) == expected
    assert resp["kind"] == "PodList" and resp["apiVersion"] == "v1"
    assert all("kind" not in i for i in resp["items"]), "LIST items carry no kind, as the API server's"


@pytest.mark.parametrize(
    "fn, args, selector, expected",
    [
        ("list_namespaced_pod", ("shop",), "spec.nodeName=node-2", ["web-2@shop"]),
        ("list_namespaced_pod", ("shop",), "status.phase!=Running", ["web-2@shop"]),
        ("list_namespaced_pod", ("shop",), "metadata.name=db-1", ["db-1@shop"]),
        ("list_pod_for_all_namespaces", (), "metadata.namespace=other", ["web-1@other"]),
        ("list_namespaced_event", ("shop",), "type=Warning,involvedObject.kind=Service", ["web.*@shop"]),
        ("list_namespaced_event", ("shop",), "involvedObject.name=web-2", ["web-2.*@shop"]),
        ("list_namespaced_event", ("shop",), "reason=Unhealthy,involvedObject.namespace=shop", ["web-1.*@shop"]),
    ],
)
def test_field_selectors(api, fn, args, selector, expected):
    import fnmatch

    resp = raw(getattr(api.core, fn)(*args, field_selector=selector, _preload_content=False))
    got = names(resp)
    assert len(got) == len(expected) and all(fnmatch.fnmatch(g, e) for g, e in zip(got, expected, strict=True)), got


def test_unsupported_field_selector_is_a_400(api):
    with pytest.raises(ApiException) as err:
        api.core.list_namespaced_pod("shop", field_selector="spec.containers=x")
    assert err.value.status == 400 and "field label not supported: spec.containers" in err.value.body


def test_get_and_404_status(api):
    svc = api.core.read_namespaced_service("web", "shop")
    assert svc.spec.ports[0].target_port == 8080
    with pytest.raises(ApiException) as err:
        api.core.read_namespaced_service("nope", "shop")
    body = json.loads(err.value.body)
    assert err.value.status == 404
    assert body == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'services "nope" not found', "reason": "NotFound",
        "details": {"name": "nope", "kind": "services"}, "code": 404,
    }


def test_custom_objects_and_absent_crd():
    tgb = {"apiVersion": "elbv2.k8s.aws/v1beta1", "kind": "TargetGroupBinding", "metadata": {"name": "t", "namespace": "shop"}, "spec": {"serviceRef": {"name": "web", "port": 80}}}
    with FakeKubeAPI([tgb]) as api, api.api_client() as c:
        got = client.CustomObjectsApi(c).list_namespaced_custom_object("elbv2.k8s.aws", "v1beta1", "shop", "targetgroupbindings")
        assert got["items"][0]["kind"] == "TargetGroupBinding"  # custom resources keep kind in lists
    with FakeKubeAPI([tgb], absent_apis={"elbv2.k8s.aws/v1beta1"}) as api, api.api_client() as c:
        with pytest.raises(ApiException) as err:
            client.CustomObjectsApi(c).list_namespaced_custom_object("elbv2.k8s.aws", "v1beta1", "shop", "targetgroupbindings")
        assert err.value.status == 404 and "could not find the requested resource" in err.value.body


def test_pagination_limit_continue(api):
    for i in range(7):
        api.add(f.pod(f"p-{i}", "page", labels={"app": "p"}))
    seen, token, pages = [], None, 0
    while True:
        kwargs = {"_continue": token} if token else {}
        resp = raw(api.core.list_namespaced_pod("page", limit=3, _preload_content=False, **kwargs))
        pages += 1
        seen += [i["metadata"]["name"] for i in resp["items"]]
        token = resp["metadata"].get("continue")
        if not token:
            break
        assert resp["metadata"]["remainingItemCount"] == 7 - len(seen)
    assert pages == 3 and seen == [f"p-{i}" for i in range(7)]


def test_merge_patch_persists_and_bumps_resource_version(api):
    before = api.get_object("Service", "shop", "web")["metadata"]["resourceVersion"]
    out = api.core.patch_namespaced_service(
        "web", "shop", {"metadata": {"annotations": {"a": "1"}}, "spec": {"externalTrafficPolicy": "Cluster"}},
        _content_type="application/merge-patch+json",
    )
    assert out.metadata.annotations == {"a": "1"}
    after = api.get_object("Service", "shop", "web")
    assert int(after["metadata"]["resourceVersion"]) > int(before)
    assert after["metadata"]["annotations"] == {"a": "1"}
    (req,) = api.calls(verb="patch")
    assert req.path == "/api/v1/namespaces/shop/services/web"


def test_merge_patch_replaces_lists_strategic_merges_them_by_key(api):
    ports = {"spec": {"ports": [{"name": "http", "port": 80, "targetPort": 80}]}}
    strategic = api.core.patch_namespaced_service("web", "shop", ports)  # the client's default: strategic
    assert [(p.name, p.target_port) for p in strategic.spec.ports] == [("http", 80), ("admin", 9000)]
    merged = api.core.patch_namespaced_service("web", "shop", {"spec": {"ports": [{"name": "http", "port": 80, "targetPort": 81}]}}, _content_type="application/merge-patch+json")
    assert [(p.name, p.target_port) for p in merged.spec.ports] == [("http", 81)]


def test_strategic_patch_on_containers_and_rollout_restart(api):
    body = {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2026-11-21T10:00:00Z"}}, "spec": {"containers": [{"name": "kube-proxy", "command": ["kube-proxy", "--hostname-override=$(NODE_NAME)"]}]}}}}
    out = raw(api.apps.patch_namespaced_daemon_set("kube-proxy", "kube-system", body, _preload_content=False))
    tmpl = out["spec"]["template"]
    assert tmpl["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"] == "2026-11-21T10:00:00Z"
    assert tmpl["spec"]["containers"] == [{"name": "kube-proxy", "image": "kp:1", "command": ["kube-proxy", "--hostname-override=$(NODE_NAME)"]}]
    assert out["metadata"]["generation"] == 2


def test_dry_run_does_not_persist(api):
    before = api.get_object("Service", "shop", "web")
    out = raw(api.core.patch_namespaced_service("web", "shop", {"spec": {"ports": [{"name": "http", "port": 80, "targetPort": 80}]}}, dry_run="All", _preload_content=False))
    assert out["spec"]["ports"][0]["targetPort"] == 80
    assert out["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert api.get_object("Service", "shop", "web") == before
    assert api.calls(verb="patch")[0].query == {"dryRun": "All"}


def test_patch_with_stale_resource_version_conflicts(api):
    with pytest.raises(ApiException) as err:
        api.core.patch_namespaced_service("web", "shop", {"metadata": {"resourceVersion": "1"}, "spec": {"type": "NodePort"}})
    assert err.value.status == 409 and "the object has been modified" in err.value.body
    rv = api.get_object("Service", "shop", "web")["metadata"]["resourceVersion"]
    out = api.core.patch_namespaced_service("web", "shop", {"metadata": {"resourceVersion": rv}, "spec": {"type": "NodePort"}})
    assert out.spec.type == "NodePort"


def test_json_patch(api):
    ops = [{"op": "test", "path": "/spec/ports/0/targetPort", "value": 8080}, {"op": "replace", "path": "/spec/ports/0/targetPort", "value": 80}]
    out = api.core.patch_namespaced_service("web", "shop", ops, _content_type="application/json-patch+json")
    assert out.spec.ports[0].target_port == 80


def test_forbidden_patch_and_request_log(api):
    api.forbidden.add(("patch", "services", "shop"))
    with pytest.raises(ApiException) as err:
        api.core.patch_namespaced_service("web", "shop", {"spec": {"type": "NodePort"}})
    assert err.value.status == 403
    assert json.loads(err.value.body)["message"] == (
        'services "web" is forbidden: User "system:serviceaccount:lbhealth:lbhealth" cannot patch resource "services" '
        'in API group "" in the namespace "shop"'
    )
    api.core.read_namespaced_service("web", "shop")
    api.core.read_namespaced_service("web", "shop")
    assert api.counters[("get", "/api/v1/namespaces/shop/services/web", "")] == 2
    assert api.counters[("patch", "/api/v1/namespaces/shop/services/web", "")] == 1


def test_pod_logs_previous_and_tail(api):
    api.set_log("shop", "web-1", "app", "a\nb\nc\n")
    api.set_log("shop", "web-1", "app", "old1\nold2\n", previous=True)
    assert api.core.read_namespaced_pod_log("web-1", "shop", tail_lines=2) == "b\nc\n"
    assert api.core.read_namespaced_pod_log("web-1", "shop", container="app", previous=True) == "old1\nold2\n"
    with pytest.raises(ApiException) as err:
        api.core.read_namespaced_pod_log("db-1", "shop", previous=True)
    assert err.value.status == 400 and json.loads(err.value.body)["message"] == 'previous terminated container "app" in pod "db-1" not found'
    with pytest.raises(ApiException) as err:
        api.core.read_namespaced_pod_log("web-1", "shop", container="sidecar")
    assert err.value.status == 400


def test_latency_knob(api):
    import time

    api.latency_ms = 60
    t = time.monotonic()
    api.core.read_namespaced_config_map("kube-proxy", "kube-system")
    assert time.monotonic() - t >= 0.06
    assert api.calls()[-1].elapsed_ms >= 60


def test_create_delete_dry_run(api):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"generateName": "lbhealth-node-"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    out = raw(api.core.create_namespaced_pod("lbhealth", pod, dry_run="All", _preload_content=False))
    assert out["metadata"]["name"].startswith("lbhealth-node-")
    assert api.count(verb="list") == 0 and api.get_object("Pod", "lbhealth", out["metadata"]["name"]) is None
    created = raw(api.core.create_namespaced_pod("lbhealth", pod, _preload_content=False))
    assert api.get_object("Pod", "lbhealth", created["metadata"]["name"]) is not None
    api.core.delete_namespaced_pod(created["metadata"]["name"], "lbhealth")
    assert api.get_object("Pod", "lbhealth", created["metadata"]["name"]) is None


def test_patch_helpers():
    assert merge_patch({"a": {"b": 1, "c": 2}, "l": [1, 2]}, {"a": {"b": None, "d": 3}, "l": [3]}) == {"a": {"c": 2, "d": 3}, "l": [3]}
    cur = {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "1"}]}
    assert strategic_merge_patch(cur, {"containers": [{"name": "b", "$patch": "delete"}, {"name": "c", "image": "2"}]}) == {
        "containers": [{"name": "a", "image": "1"}, {"name": "c", "image": "2"}]
    }
    assert parse_label_selector("a in (x,y),b,!c,d!=e") == [("a", "in", ("x", "y")), ("b", "exists", ()), ("c", "!exists", ()), ("d", "!=", ("e",))]
