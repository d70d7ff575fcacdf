"""The live Kubernetes collector: the official client against the fake API server over HTTP.

Nothing is monkeypatched: the collector builds its requests with `kubernetes.client`, the
fake server answers them on 127.0.0.1 and records every request, and the assertions are on
that request log (what was asked, how often, with which selectors) and on the state read.
"""

from __future__ import annotations

import copy
import socket
from collections import Counter

import pytest

from checks.collect.errors import CollectError
from checks.collect.k8s import K8S_READS, KubeCollector, collect_k8s, make_api_client
from checks.collect.live import Clients, collect
from checks.model import Target
from checks.registry import CheckSpec
from checks.state import State
from tests import factories as f
from tests.fakes.kube_api import FakeKubeAPI

NLB = {"service.beta.kubernetes.io/aws-load-balancer-type": "external", "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip"}
TKE = {"service.kubernetes.io/loadbalance-id": "lb-abc123"}


def kube_proxy(ready_nodes=("node-1", "node-2"), not_ready_nodes=()):
    objs = [
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "kube-proxy", "namespace": "kube-system", "labels": {"k8s-app": "kube-proxy"}},
            "spec": {"selector": {"matchLabels": {"k8s-app": "kube-proxy"}}, "template": {"spec": {"containers": [{"name": "kube-proxy", "image": "kube-proxy:v1.30"}]}}},
            "status": {"currentNumberScheduled": 2, "desiredNumberScheduled": 2, "numberMisscheduled": 0,
                       "numberReady": 2 - len(not_ready_nodes), "updatedNumberScheduled": 2},
        }
    ]
    for i, node in enumerate(list(ready_nodes) + list(not_ready_nodes)):
        ready = node in ready_nodes
        p = f.pod(
            f"kube-proxy-{node}",
            "kube-system",
            labels={"k8s-app": "kube-proxy"},
            ip=f"127.0.1.{i + 1}",
            node=node,
            containers=[f.container("kube-proxy", ports=[])],
            ready=ready,
            restarts=0 if ready else 4,
        )
        objs.append(p)
    return objs


def lbc(ready=2, replicas=2):
    dep = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "aws-load-balancer-controller", "namespace": "kube-system", "generation": 1},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app.kubernetes.io/name": "aws-load-balancer-controller"}}},
        "status": {"replicas": replicas, "readyReplicas": ready, "availableReplicas": ready},
    }
    pods = [
        f.pod(
            f"aws-load-balancer-controller-{i}",
            "kube-system",
            labels={"app.kubernetes.io/name": "aws-load-balancer-controller"},
            ip=f"127.0.2.{i + 1}",
            containers=[f.container("controller", ports=[])],
            ready=i < ready,
        )
        for i in range(replicas)
    ]
    return [dep, *pods]


def tgb(name="k8s-shop-web-123", service="web"):
    return {
        "apiVersion": "elbv2.k8s.aws/v1beta1",
        "kind": "TargetGroupBinding",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"serviceRef": {"name": service, "port": 80}, "targetGroupARN": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/k8s-shop-web/abc", "targetType": "ip"},
    }


def cluster(*, svc_annotations=NLB, selector=None, web_pods=3, restarts=(), other_namespaces=3, pods_per_ns=20, extra=()):
    """shop/web (NLB, ip targets) with an Ingress, its pods, and noise in other namespaces."""
    objs = [
        f.service("web", "shop", selector=selector or {"app": "web"}, annotations=svc_annotations),
        f.service("api", "shop", selector={"app": "api"}),
        f.ingress("web", "shop", annotations={"alb.ingress.kubernetes.io/target-type": "ip"}),
        f.endpoint_slice("web", "shop", endpoints=[(f"127.0.0.{10 + i}", True, f"web-{i}", f"node-{1 + i % 2}") for i in range(web_pods)]),
        f.event("Pod", "web-0", "shop"),
        f.event("Pod", "web-0", "shop", type="Normal", reason="Pulled", message="Container image pulled"),
        f.node("node-1", internal_ip="127.0.1.1"),
        f.node("node-2", internal_ip="127.0.1.2"),
        tgb(),
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "deny-all", "namespace": "shop"}, "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}},
        *kube_proxy(),
        *lbc(),
    ]
    for i in range(web_pods):
        objs.append(
            f.pod(
                f"web-{i}",
                "shop",
                labels={"app": "web", "pod-template-hash": "abc"},
                ip=f"127.0.0.{10 + i}",
                node=f"node-{1 + i % 2}",
                restarts=3 if i in restarts else 0,
                last_terminated_reason="Error" if i in restarts else None,
            )
        )
    for i in range(5):
        objs.append(f.pod(f"api-{i}", "shop", labels={"app": "api"}, ip=f"127.0.3.{i + 1}"))
    for n in range(other_namespaces):
        ns = f"team-{n}"
        objs.append(f.service("web", ns, selector={"app": "web"}, type="ClusterIP"))
        for i in range(pods_per_ns):
            objs.append(f.pod(f"web-{i}", ns, labels={"app": "web"}, ip=f"127.1.{n}.{i + 1}"))
    objs.extend(extra)
    return objs


def run(api: FakeKubeAPI, target="shop/web", reads=K8S_READS) -> State:
    state = State(target=Target.parse(target))
    client = api.api_client()
    try:
        collect_k8s(state, reads, client)
    finally:
        client.close()
    return state


@pytest.fixture
def api():
    with FakeKubeAPI(cluster()) as server:
        yield server


# ---- the plan: each kind once, scoped, within budget --------------------------------------------


def test_each_kind_read_once_within_budget(api):
    state = run(api)
    calls = api.calls()
    assert len(calls) <= 12
    assert state.api_calls["k8s"] == len(calls)
    per = Counter((r.verb, r.resource, r.namespace) for r in calls)
    assert all(n == 1 for n in per.values()), per
    assert set(per) == {
        ("get", "services", "shop"),
        ("list", "endpointslices", "shop"),
        ("list", "ingresses", "shop"),
        ("list", "events", "shop"),
        ("list", "networkpolicies", "shop"),
        ("list", "nodes", None),
        ("list", "targetgroupbindings", "shop"),
        ("get", "daemonsets", "kube-system"),
        ("list", "pods", "kube-system"),
        ("get", "deployments", "kube-system"),
        ("list", "pods", "shop"),
    }
    assert all(r.status == 200 for r in calls)
    assert not state.read_errors
    assert {"k8s.service", "k8s.pods", "k8s.endpoints", "k8s.nodes", "k8s.ingresses", "k8s.events", "k8s.networkpolicies", "k8s.targetgroupbindings", "k8s.kube_proxy", "k8s.lbc", "k8s.logs"} <= state.reads_done


def test_selectors_scope_every_list(api):
    run(api)
    assert api.count(verb="list", resource="pods", cluster_wide=True) == 0, "never a cluster-wide pod list"
    (pods,) = api.calls(verb="list", resource="pods", namespace="shop")
    assert pods.query["labelSelector"] == "app=web"
    (slices,) = api.calls(resource="endpointslices")
    assert slices.query["labelSelector"] == "kubernetes.io/service-name=web"
    (events,) = api.calls(resource="events")
    assert events.query["fieldSelector"] == "type=Warning"
    (kp,) = api.calls(verb="list", resource="pods", namespace="kube-system")
    assert kp.query["labelSelector"] == "k8s-app=kube-proxy"
    assert api.calls(resource="daemonsets")[0].path == "/apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy"
    assert api.calls(resource="deployments")[0].path == "/apis/apps/v1/namespaces/kube-system/deployments/aws-load-balancer-controller"
    # the only cluster-wide LIST is nodes
    assert [r.resource for r in api.calls(cluster_wide=True)] == ["nodes"]


def test_objects_keep_the_kubectl_json_shape(api):
    state = run(api)
    pods = state.k8s.of_kind("Pod", "shop")
    assert sorted(p["metadata"]["name"] for p in pods) == ["web-0", "web-1", "web-2"]
    pod = pods[0]
    assert pod["kind"] == "Pod" and pod["apiVersion"] == "v1"
    assert pod["status"]["podIP"].startswith("127.")
    assert pod["spec"]["containers"][0]["ports"][0]["containerPort"] == 80  # camelCase, as kubectl prints
    (sl,) = state.k8s.of_kind("EndpointSlice")
    assert sl["apiVersion"] == "discovery.k8s.io/v1" and sl["endpoints"][0]["conditions"]["ready"] is True
    (ing,) = state.ingresses
    assert ing["kind"] == "Ingress" and ing["apiVersion"] == "networking.k8s.io/v1"
    (tg,) = state.k8s.of_kind("TargetGroupBinding")
    assert tg["apiVersion"] == "elbv2.k8s.aws/v1beta1" and tg["spec"]["serviceRef"]["name"] == "web"
    assert [e["type"] for e in state.k8s.of_kind("Event")] == ["Warning"]
    assert {n["kind"] for n in state.nodes} == {"Node"}
    assert state.k8s.get("DaemonSet", "kube-system", "kube-proxy")["kind"] == "DaemonSet"
    assert state.k8s.get("Deployment", "kube-system", "aws-load-balancer-controller")["apiVersion"] == "apps/v1"
    assert len(state.selected_pods) == 3
    for obj in state.k8s.all_objects():
        assert obj.get("kind") and obj.get("apiVersion"), obj


def test_only_requested_reads_happen(api):
    state = run(api, reads={"k8s.service", "k8s.pods"})
    assert Counter((r.verb, r.resource) for r in api.calls()) == Counter({("get", "services"): 1, ("list", "pods"): 1})
    assert state.reads_done == {"k8s.service", "k8s.pods"}


# ---- conditional reads ---------------------------------------------------------------------------


def test_no_conditional_reads_when_nothing_needs_them(api):
    state = run(api)
    assert api.count(resource="pods/log") == 0
    assert api.count(verb="list", resource="services") == 0
    assert len(api.calls(verb="list", resource="pods", namespace="shop")) == 1
    assert "selector matches 3 pod" in state.skipped_reads["k8s.namespace_pods"]
    assert state.skipped_reads["k8s.services"] == "not needed: the Service exists"


def test_selector_matching_nothing_lists_the_namespace_for_the_near_miss():
    with FakeKubeAPI(cluster(selector={"app": "web-frontend"})) as api:
        state = run(api)
    shop_lists = api.calls(verb="list", resource="pods", namespace="shop")
    assert [r.query.get("labelSelector") for r in shop_lists] == ["app=web-frontend", None]
    assert shop_lists[1].query["limit"] == "500"
    assert api.count(verb="list", resource="pods", cluster_wide=True) == 0
    assert "k8s.namespace_pods" in state.reads_done
    assert state.selected_pods == []
    assert {p["metadata"]["name"] for p in state.namespace_pods} == {"web-0", "web-1", "web-2", "api-0", "api-1", "api-2", "api-3", "api-4"}
    assert api.total <= 12


def test_restarting_containers_get_their_previous_log_at_most_three():
    with FakeKubeAPI(cluster(web_pods=5, restarts=(0, 1, 2, 3, 4))) as api:
        for i in range(5):
            api.set_log("shop", f"web-{i}", "app", "".join(f"line {n}\n" for n in range(100)), previous=True)
        state = run(api)
    logs = api.calls(resource="pods/log")
    assert len(logs) == 3
    for r in logs:
        assert r.namespace == "shop" and r.query["previous"] == "true" and r.query["tailLines"] == "20" and r.query["container"] == "app"
    assert len(state.k8s.logs) == 3
    text = next(iter(state.k8s.logs.values()))
    assert text.splitlines() == [f"line {n}" for n in range(80, 100)]
    assert all(key[3] is True for key in state.k8s.logs)


def test_crashloop_without_previous_log_is_not_an_error():
    with FakeKubeAPI(cluster(restarts=(1,))) as api:
        state = run(api)
    assert api.count(resource="pods/log") == 1
    assert "k8s.logs" not in state.read_errors and "k8s.logs" in state.reads_done


def test_unhealthy_controller_gets_its_logs_read():
    objs = [o for o in cluster() if "aws-load-balancer-controller" not in o["metadata"]["name"]] + lbc(ready=0)
    with FakeKubeAPI(objs) as api:
        api.set_log("kube-system", "aws-load-balancer-controller-0", "controller", "".join(f"{{\"level\":\"error\",\"n\":{n}}}\n" for n in range(500)))
        state = run(api)
    (lbc_pods,) = api.calls(verb="list", resource="pods", namespace="kube-system", cluster_wide=False)[1:]
    assert lbc_pods.query["labelSelector"] == "app.kubernetes.io/name=aws-load-balancer-controller"
    (log_req,) = api.calls(resource="pods/log")
    assert log_req.query["tailLines"] == "200" and log_req.query["container"] == "controller"
    text = state.k8s.logs[("kube-system", "aws-load-balancer-controller-0", "controller", False)]
    assert len(text.splitlines()) == 200


def test_warning_event_from_the_controller_gets_its_logs_read():
    ev = f.event("Ingress", "web", "shop", reason="FailedDeployModel", message="Failed deploy model due to AccessDenied: User is not authorized to perform: elasticloadbalancing:CreateTargetGroup")
    with FakeKubeAPI(cluster(extra=[ev])) as api:
        api.set_log("kube-system", "aws-load-balancer-controller-0", "controller", "AccessDenied\n")
        state = run(api)
    assert api.count(resource="pods/log") == 1
    assert state.k8s.logs[("kube-system", "aws-load-balancer-controller-0", "controller", False)] == "AccessDenied\n"


def test_no_controller_read_for_a_tencent_service():
    objs = cluster(svc_annotations=TKE)
    objs = [o for o in objs if o["kind"] not in ("Ingress", "TargetGroupBinding")]
    for o in objs:
        if o["kind"] == "Node":
            o["spec"]["providerID"] = "qcloud:///800002/ins-abc"
    with FakeKubeAPI(objs) as api:
        state = run(api)
    assert api.count(resource="deployments") == 0
    assert "not an AWS load balancer" in state.skipped_reads["k8s.lbc"]
    assert api.total <= 11


def test_no_controller_read_for_a_plain_clusterip_service_on_eks():
    objs = [o for o in cluster() if o["kind"] not in ("Ingress", "TargetGroupBinding", "Service")]
    objs.append(f.service("web", "shop", selector={"app": "web"}, type="ClusterIP"))
    with FakeKubeAPI(objs) as api:
        state = run(api)
    assert api.count(resource="deployments") == 0 and "k8s.lbc" in state.skipped_reads


def test_not_ready_kube_proxy_on_a_target_node_gets_its_log_read():
    objs = [o for o in cluster() if not o["metadata"]["name"].startswith("kube-proxy")]
    objs += kube_proxy(ready_nodes=("node-2",), not_ready_nodes=("node-1", "node-9"))
    with FakeKubeAPI(objs) as api:
        api.set_log("kube-system", "kube-proxy-node-1", "kube-proxy", "E1121 failed to sync iptables\n")
        state = run(api)
    (req,) = api.calls(resource="pods/log")  # node-9 hosts no target (ip targets): not read
    assert req.name == "kube-proxy-node-1" and req.query["tailLines"] == "50"
    assert state.k8s.logs[("kube-system", "kube-proxy-node-1", "kube-proxy", False)].startswith("E1121")


# ---- errors ------------------------------------------------------------------------------------


def test_forbidden_events_names_the_rbac_grant_and_the_rest_is_read():
    with FakeKubeAPI(cluster(), forbidden={("list", "events", "shop")}) as api:
        state = run(api)
    assert state.read_errors["k8s.events"] == (
        "forbidden: cannot list events in namespace shop — grant RBAC verb 'list' on resource 'events' (group core)"
    )
    assert "k8s.events" in state.reads_done and not state.did_read("k8s.events")
    assert state.did_read("k8s.pods") and state.did_read("k8s.ingresses")
    assert set(state.read_errors) == {"k8s.events"}


def test_forbidden_status_object_is_the_api_servers():
    import json

    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    with FakeKubeAPI(cluster(), forbidden={("list", "pods", "shop")}) as api, api.api_client() as c, pytest.raises(ApiException) as err:
        client.CoreV1Api(c).list_namespaced_pod("shop")
    assert err.value.status == 403
    body = json.loads(err.value.body)
    assert body["kind"] == "Status" and body["status"] == "Failure" and body["reason"] == "Forbidden" and body["code"] == 403
    assert body["message"] == (
        'pods is forbidden: User "system:serviceaccount:lbhealth:lbhealth" cannot list resource "pods" '
        'in API group "" in the namespace "shop"'
    )


def test_forbidden_cluster_scope_and_api_groups():
    forbidden = {("list", "nodes", None), ("list", "ingresses", "*"), ("get", "deployments", "kube-system")}
    with FakeKubeAPI(cluster(), forbidden=forbidden) as api:
        state = run(api)
    assert state.read_errors["k8s.nodes"] == (
        "forbidden: cannot list nodes at cluster scope — grant RBAC verb 'list' on resource 'nodes' (group core) in a ClusterRole"
    )
    assert state.read_errors["k8s.ingresses"] == (
        "forbidden: cannot list ingresses in namespace shop — grant RBAC verb 'list' on resource 'ingresses' (group networking.k8s.io)"
    )
    assert state.read_errors["k8s.lbc"] == (
        "forbidden: cannot get deployments in namespace kube-system — grant RBAC verb 'get' on resource 'deployments' (group apps)"
    )


def test_forbidden_logs_name_the_subresource():
    with FakeKubeAPI(cluster(restarts=(0,)), forbidden={("get", "pods/log", "*")}) as api:
        state = run(api)
    assert state.read_errors["k8s.logs"] == (
        "forbidden: cannot get pods/log in namespace shop — grant RBAC verb 'get' on resource 'pods/log' (group core)"
    )


def test_service_not_found_lists_services_for_suggestions():
    with FakeKubeAPI(cluster()) as api:
        state = run(api, target="shop/wbe")
    (svc_list,) = api.calls(verb="list", resource="services")
    assert svc_list.cluster_wide and svc_list.path == "/api/v1/services"
    assert "as=PartialObjectMetadataList" in svc_list.accept, "names only: metadata-only list"
    assert state.service is None
    assert "k8s.service" not in state.read_errors and "k8s.services" in state.reads_done
    names = {(s["metadata"]["namespace"], s["metadata"]["name"]) for s in state.k8s.of_kind("Service")}
    assert {("shop", "web"), ("shop", "api"), ("team-0", "web")} <= names
    assert all(s["kind"] == "Service" and s["apiVersion"] == "v1" and "spec" not in s for s in state.k8s.of_kind("Service"))
    assert api.count(resource="pods", namespace="shop") == 0, "no Service, no selector: no pod list"
    assert api.count(resource="deployments") == 0


def test_service_not_found_suggestion_check_sees_the_names():
    from tests.factories import run_check

    with FakeKubeAPI(cluster()) as api:
        state = run(api, target="shop/wbe")
    (finding,) = run_check("K8S-SVC-EXISTS", state)
    assert finding.status == "fail" and "shop/web" in finding.summary


def test_targetgroupbinding_crd_absent_is_read_and_empty():
    with FakeKubeAPI(cluster(), absent_apis={"elbv2.k8s.aws/v1beta1"}) as api:
        state = run(api)
    (req,) = api.calls(resource="targetgroupbindings")
    assert req.status == 404
    assert "k8s.targetgroupbindings" in state.reads_done and "k8s.targetgroupbindings" not in state.read_errors
    assert state.k8s.of_kind("TargetGroupBinding") == []


def test_endpoints_fallback_only_without_the_endpointslice_api():
    legacy = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": "web", "namespace": "shop"},
        "subsets": [{"addresses": [{"ip": "127.0.0.10"}], "ports": [{"name": "http", "port": 80}]}],
    }
    with FakeKubeAPI(cluster(extra=[legacy])) as api:
        run(api)
        assert api.count(resource="endpoints") == 0
    with FakeKubeAPI(cluster(extra=[legacy]), absent_apis={"discovery.k8s.io/v1"}) as api:
        state = run(api)
    (req,) = api.calls(resource="endpoints")
    assert req.verb == "get" and req.path == "/api/v1/namespaces/shop/endpoints/web"
    assert state.endpoints["subsets"][0]["addresses"][0]["ip"] == "127.0.0.10"
    assert state.did_read("k8s.endpoints")


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_unreachable_api_server_is_a_collect_error():
    from kubernetes.client import ApiClient, Configuration

    port = _closed_port()
    cfg = Configuration(host=f"http://127.0.0.1:{port}")
    cfg.retries = 0
    with ApiClient(cfg) as c, pytest.raises(CollectError) as err:
        collect_k8s(State(target=Target("shop", "web")), K8S_READS, c)
    assert str(err.value).startswith(f"cannot reach the Kubernetes API at http://127.0.0.1:{port}: connection refused — ")
    assert "--context" in str(err.value)


def test_no_kubeconfig_is_a_collect_error(tmp_path, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(CollectError) as err:
        make_api_client()
    assert "no usable Kubernetes configuration" in str(err.value)


def test_kubeconfig_context(tmp_path, monkeypatch, api):
    path = api.write_kubeconfig(str(tmp_path / "config"), context="fake-ctx")
    monkeypatch.setenv("KUBECONFIG", path)
    with pytest.raises(CollectError):
        make_api_client("no-such-context")
    c = make_api_client("fake-ctx")
    try:
        assert c.configuration.connection_pool_maxsize >= 32
        state = State(target=Target("shop", "web"))
        collect_k8s(state, {"k8s.service"}, c)
    finally:
        c.close()
    assert state.service["metadata"]["name"] == "web"
    assert api.calls()[0].path == "/api/v1/namespaces/shop/services/web"


# ---- pagination ----------------------------------------------------------------------------------


def test_pagination_follows_continue_tokens():
    objs = cluster(web_pods=0, other_namespaces=0)
    objs += [f.pod(f"web-{i:04d}", "shop", labels={"app": "web"}, ip=f"127.0.{i // 250}.{i % 250 + 1}") for i in range(1203)]
    with FakeKubeAPI(objs) as api:
        state = run(api, reads={"k8s.service", "k8s.pods"})
    pages = api.calls(verb="list", resource="pods")
    assert len(pages) == 3
    assert "continue" not in pages[0].query and pages[1].query["continue"] and pages[2].query["continue"]
    assert all(p.query["labelSelector"] == "app=web" and p.query["limit"] == "500" for p in pages)
    names = [p["metadata"]["name"] for p in state.k8s.of_kind("Pod")]
    assert len(names) == 1203 == len(set(names))


# ---- through live.collect ------------------------------------------------------------------------


def _spec(reads):
    return CheckSpec(id="TEST-READS", title="t", seed="t", reads=tuple(reads), layer="k8s", func=lambda s: None)


def test_live_collect_marks_reads_and_counts_calls(api):
    state = collect(Target("shop", "web"), [_spec(K8S_READS)], options={"probe": False}, clients=Clients(k8s=api.api_client()))
    assert state.api_calls["k8s"] == api.total <= 12
    assert state.did_read("k8s.service") and state.did_read("k8s.pods")
    assert "Pod" in state.k8s.objects and "Deployment" in state.k8s.objects
    assert all(v for v in state.k8s.objects.values()), "no empty buckets left behind"


def test_live_collect_skips_probes_when_off(api):
    state = collect(Target("shop", "web"), [_spec(["k8s.service", "probe"])], options={"probe": False}, clients=Clients(k8s=api.api_client()))
    assert "probes are off" in state.skipped_reads["probe"]
    assert api.total == 1


def test_live_collect_unreachable_raises():
    from kubernetes.client import ApiClient, Configuration

    cfg = Configuration(host=f"http://127.0.0.1:{_closed_port()}")
    cfg.retries = 0
    with pytest.raises(CollectError, match="cannot reach the Kubernetes API"):
        collect(Target("shop", "web"), [_spec(K8S_READS)], options={}, clients=Clients(k8s=ApiClient(cfg)))


def test_collector_reads_are_not_shared_between_diagnoses(api):
    """Two diagnoses through one client: each gets its own state and its own count."""
    c = api.api_client()
    a = State(target=Target("shop", "web"))
    b = State(target=Target("shop", "api"))
    KubeCollector(a, K8S_READS, c).wave1()
    KubeCollector(b, {"k8s.service"}, c).wave1()
    c.close()
    assert b.api_calls["k8s"] == 1 and a.api_calls["k8s"] >= 9
    assert b.service["metadata"]["name"] == "api" and a.service["metadata"]["name"] == "web"
    assert copy.deepcopy(a.k8s.objects)  # plain data
