"""KubeState's indexes answer exactly what a scan of its lists would, however the lists change."""

from __future__ import annotations

from checks.model import Target
from checks.state import KubeState, State, labels_match, meta
from tests import factories as f


def scan_get(k8s: KubeState, kind: str, ns: str | None, name: str):
    for o in k8s.objects.get(kind, []):
        if meta(o).get("name") == name and (ns is None or meta(o).get("namespace") == ns):
            return o
    return None


def test_add_replaces_by_kind_namespace_and_name_and_keeps_arrival_order():
    k8s = KubeState()
    k8s.add(f.pod("a", "shop", labels={"app": "web"}))
    k8s.add(f.pod("b", "shop", labels={"app": "web"}))
    k8s.add(f.pod("a", "other", labels={"app": "web"}))
    newer = f.pod("a", "shop", labels={"app": "api"})
    k8s.add(newer)
    assert [(meta(p)["namespace"], meta(p)["name"]) for p in k8s.of_kind("Pod")] == [
        ("shop", "a"),
        ("shop", "b"),
        ("other", "a"),
    ]
    assert k8s.get("Pod", "shop", "a") is newer
    assert [meta(p)["name"] for p in k8s.select("Pod", "shop", {"app": "web"})] == ["b"]
    assert k8s.select("Pod", "shop", {"app": "api"}) == [newer]


def test_select_matches_the_equality_selector_scan_in_every_namespace():
    k8s = KubeState()
    for i in range(60):
        k8s.add(f.pod(f"p{i}", f"ns{i % 3}", labels={"app": f"a{i % 4}", "tier": f"t{i % 5}"}, ip=f"127.0.1.{i}"))
    for ns in ("ns0", "ns1", "ns2", "absent"):
        for selector in ({"app": "a1"}, {"app": "a2", "tier": "t3"}, {"app": "nope"}, {}, None):
            expected = [p for p in k8s.of_kind("Pod", ns) if labels_match(selector, meta(p).get("labels"))]
            assert k8s.select("Pod", ns, selector) == expected


def test_a_list_replaced_or_trimmed_by_hand_is_reindexed():
    k8s = KubeState()
    for i in range(5):
        k8s.add(f.pod(f"p{i}", "shop", ip=f"127.0.0.{i + 1}"))
    assert k8s.get("Pod", "shop", "p4") is not None
    k8s.objects["Pod"] = [p for p in k8s.objects["Pod"] if meta(p)["name"] != "p4"]
    assert k8s.get("Pod", "shop", "p4") is None
    assert k8s.pods_by_ip("127.0.0.5") == []
    k8s.objects["Pod"].pop(0)
    assert k8s.get("Pod", "shop", "p0") is None
    assert [meta(p)["name"] for p in k8s.of_kind("Pod", "shop")] == ["p1", "p2", "p3"]
    del k8s.objects["Pod"]
    assert k8s.get("Pod", "shop", "p1") is None and k8s.of_kind("Pod", "shop") == []


def test_cluster_scoped_get_and_pod_by_ip_match_a_scan():
    state = State(target=Target("shop", "web"))
    for i in range(20):
        state.k8s.add(f.node(f"n{i}", internal_ip=f"127.0.2.{i}"))
        state.k8s.add(f.pod(f"p{i}", f"ns{i % 2}", ip=f"127.0.3.{i}"))
    for name in ("n0", "n19", "zz"):
        assert state.k8s.get("Node", None, name) is scan_get(state.k8s, "Node", None, name)
    assert meta(state.pod_by_ip("127.0.3.7"))["name"] == "p7"
    assert state.pod_by_ip("127.0.9.9") is None

