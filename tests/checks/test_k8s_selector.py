"""K8S-SELECTOR: a selector that matches no pod, with the labels that exist and the near miss."""

import json

from checks.model import Status
from tests.factories import make_state, pod, run_check, service

ID = "K8S-SELECTOR"


def test_passes_when_selector_matches():
    [f] = run_check(ID, make_state(service(selector={"app": "web"}), pod("web-1"), pod("web-2", ip="127.0.0.3")))
    assert f.status == Status.PASS
    assert f.summary == "Selector app=web matches 2 pod(s)"
    assert 'Service shop/web spec.selector = {"app": "web"}' in f.evidence


def test_seed_near_miss_alb_instance_1_vs_alb_instance():
    svc = service("alb-instance", selector={"app": "alb-instance-1"})
    p = pod("alb-instance-6cc5cd9b9-prnxw", labels={"app": "alb-instance", "pod-template-hash": "6cc5cd9b9"})
    other = pod("db-0", labels={"app": "postgres"}, ip="127.0.0.3")
    [f] = run_check(ID, make_state(svc, p, other, target="shop/alb-instance"))
    assert f.status == Status.FAIL
    assert f.cause == "selector"
    assert "app=alb-instance-1 (Service) vs app=alb-instance (pod)" in f.summary
    text = "\n".join(f.evidence)
    assert 'spec.selector = {"app": "alb-instance-1"}' in text
    assert "Pods alb-instance-6cc5cd9b9-prnxw labels = app=alb-instance" in text  # pod-template-hash hidden
    assert "Pods db-0 labels = app=postgres" in text
    assert "Near miss: pod alb-instance-6cc5cd9b9-prnxw" in text
    assert "kubectl patch svc alb-instance -n shop --type=merge -p '" in f.next_step
    body = f.next_step.split("-p '")[1].split("'")[0]
    assert json.loads(body) == {"spec": {"selector": {"app": "alb-instance"}}}
    assert f.fix is None  # no FIX-* for selectors: a person decides


def test_extra_selector_key_is_removed_in_the_suggestion():
    svc = service(selector={"app": "web", "tier": "frontend"})
    [f] = run_check(ID, make_state(svc, pod("web-1", labels={"app": "web"})))
    assert f.status == Status.FAIL
    assert "tier=frontend (Service) vs no 'tier' label (pod)" in f.summary
    body = json.loads(f.next_step.split("-p '")[1].split("'")[0])
    assert body == {"spec": {"selector": {"tier": None}}}


def test_no_similar_pod_gives_generic_step():
    svc = service(selector={"app": "payments"})
    [f] = run_check(ID, make_state(svc, pod("zz-1", labels={"component": "cache", "x": "y"})))
    assert f.status == Status.FAIL
    assert "matches none of the 1 pods" in f.summary
    assert f.next_step.startswith("kubectl get pods -n shop --show-labels  (") and ";" not in f.next_step  # one command


def test_empty_namespace():
    [f] = run_check(ID, make_state(service()))
    assert f.status == Status.FAIL
    assert "has no pods at all" in f.summary
    assert "kubectl get pods -A -l app=web" in f.next_step


def test_skip_without_selector_and_error_when_pods_forbidden():
    [f] = run_check(ID, make_state(service(selector={})))
    assert f.status == Status.SKIP and "no selector" in f.summary
    state = make_state(service())
    state.read_errors["k8s.namespace_pods"] = "forbidden: cannot list pods in namespace shop"
    [f] = run_check(ID, state)
    assert f.status == Status.ERROR
    assert "forbidden" in f.summary


def test_odd_labels_do_not_crash():
    p = pod("web-1", labels={"app": "web"})
    p["metadata"]["labels"] = None
    svc = service(selector={"app": 1})
    [f] = run_check(ID, make_state(svc, p), odd=True)
    assert f.status == Status.FAIL


def test_a_long_list_of_matching_pods_is_collapsed_with_a_count():
    pods = [pod(f"web-{i:02d}", ip=f"127.0.0.{10 + i}") for i in range(11)]
    [f] = run_check(ID, make_state(service(), *pods))
    assert f.status == Status.PASS
    assert f.evidence[-1].endswith("web-07 and 3 more"), f.evidence[-1]
