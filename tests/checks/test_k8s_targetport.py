"""K8S-TARGETPORT: targetPort vs the ports the selected containers declare, and FIX-TARGETPORT."""

import json

from checks.model import Status
from checks.state import ProbeResult
from tests.factories import container, make_state, pod, run_check, service

ID = "K8S-TARGETPORT"


def svc(target_port, name="http", port=80, **kw):
    return service(ports=[{"name": name, "port": port, "targetPort": target_port, "protocol": "TCP", "nodePort": 30080}], **kw)


def test_passes_when_target_port_is_declared():
    [f] = run_check(ID, make_state(svc(80), pod("web-1")))
    assert f.status == Status.PASS
    assert "80->80" in f.summary
    assert "Pod shop/web-1 container app ports = [80/TCP (http)]" in f.evidence


def test_seed_case_8080_vs_80_fails_with_exact_fix():
    state = make_state(svc(8080), pod("web-1"), pod("web-2", ip="127.0.0.3"))
    state.k8s.get("Service", "shop", "web")["metadata"]["resourceVersion"] = "4711"
    [f] = run_check(ID, state)
    assert f.status == Status.FAIL
    assert f.cause == "targetport"
    assert "targetPort 8080" in f.summary and "80/TCP" in f.summary
    assert "Service shop/web spec.ports[0] (http 80/TCP) targetPort = 8080" in f.evidence
    assert "Pod shop/web-1 container app ports = [80/TCP (http)]" in f.evidence
    assert f.fix is not None and f.fix.id == "FIX-TARGETPORT"
    assert f.fix.patch == {"spec": {"ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 80}]}}
    assert f.fix.patch_type == "strategic-merge"
    assert f.fix.target.kind == "Service" and f.fix.target.name == "web" and f.fix.target.namespace == "shop"
    assert f.fix.target.resource_version == "4711"
    assert f.fix.command == "kubectl patch svc web -n shop --type=strategic -p '" + json.dumps(f.fix.patch, separators=(",", ":")) + "'"
    assert f.next_step == f.fix.command  # one command per fix


def test_string_target_port_number_is_understood():
    [f] = run_check(ID, make_state(svc("80"), pod("web-1")))
    assert f.status == Status.PASS


def test_warns_when_containers_declare_no_ports():
    p = pod("web-1", containers=[container(ports=[])])
    [f] = run_check(ID, make_state(svc(8080), p))
    assert f.status == Status.WARN
    assert "declare no ports" in f.summary
    assert f.fix is None and f.cause == ""
    assert "ss -ltn" in f.next_step


def test_undeclared_port_proven_by_readiness_probe_passes():
    c = container(ports=[{"containerPort": 80, "protocol": "TCP"}], readiness_path="/healthz", readiness_port=8080)
    [f] = run_check(ID, make_state(svc(8080), pod("web-1", containers=[c])))
    assert f.status == Status.PASS
    assert any("readinessProbe uses port 8080 and the pod is Ready" in e for e in f.evidence)


def test_undeclared_port_proven_by_probe_result_passes():
    state = make_state(svc(8080), pod("web-1"))
    state.probes.append(ProbeResult(kind="tcp", subject="pod shop/web-1", address="127.0.0.2", port=8080, ok=True))
    [f] = run_check(ID, state)
    assert f.status == Status.PASS


def test_named_target_port_missing_in_some_pods():
    good = pod("web-1", containers=[container(ports=[{"name": "http", "containerPort": 8080, "protocol": "TCP"}])])
    bad = pod("web-2", ip="127.0.0.3", containers=[container(ports=[{"name": "web", "containerPort": 8080, "protocol": "TCP"}])])
    [f] = run_check(ID, make_state(svc("http"), good, bad))
    assert f.status == Status.FAIL
    assert "named targetPort 'http'" in f.summary and "1 of 2 pods" in f.summary
    assert any("named port 'http' is missing in shop/web-2" in e for e in f.evidence)
    # the good pods resolve 'http' to 8080 and the bad ones serve 8080: switch to the number
    assert f.fix.patch["spec"]["ports"][0]["targetPort"] == 8080


def test_named_target_port_resolved_passes():
    p = pod("web-1", containers=[container(ports=[{"name": "http", "containerPort": 8080}])])
    [f] = run_check(ID, make_state(svc("http"), p))
    assert f.status == Status.PASS


def test_ambiguous_candidates_give_no_fix():
    c = container(ports=[{"containerPort": 9000, "name": "metrics"}, {"containerPort": 9090, "name": "admin"}])
    [f] = run_check(ID, make_state(svc(8080), pod("web-1", containers=[c])))
    assert f.status == Status.FAIL
    assert f.fix is None
    assert any("No unambiguous replacement" in e and "9000" in e and "9090" in e for e in f.evidence)
    assert "set spec.ports[0].targetPort" in f.next_step


def test_prefers_container_port_named_like_service_port():
    c = container(ports=[{"containerPort": 9000, "name": "metrics"}, {"containerPort": 3000, "name": "http"}])
    [f] = run_check(ID, make_state(svc(8080), pod("web-1", containers=[c])))
    assert f.fix.patch["spec"]["ports"][0]["targetPort"] == 3000


def test_protocol_must_match():
    c = container(ports=[{"containerPort": 53, "protocol": "UDP"}])
    s = service(ports=[{"name": "dns", "port": 53, "targetPort": 53, "protocol": "TCP"}])
    [f] = run_check(ID, make_state(s, pod("web-1", containers=[c])))
    assert f.status == Status.FAIL


def test_skips():
    [f] = run_check(ID, make_state(svc(80), pod("web-1", labels={"app": "x"})))
    assert f.status == Status.SKIP and "K8S-SELECTOR" in f.summary
    [f] = run_check(ID, make_state(svc(80, selector={})))
    assert f.status == Status.SKIP
    state = make_state(svc(80))
    state.read_errors["k8s.pods"] = "forbidden"
    [f] = run_check(ID, state)
    assert f.status == Status.ERROR


def test_odd_ports_do_not_crash():
    c = container(ports=[{"containerPort": "eighty"}, None, {"name": "x"}])
    s = service(ports=[{"port": 80}, "junk", {"port": 81, "targetPort": None}])
    [f] = run_check(ID, make_state(s, pod("web-1", containers=[c])), odd=True)
    assert f.status == Status.WARN  # unusable containerPorts count as undeclared
    assert "targetPort = 81" in f.evidence[1]  # a null targetPort defaults to the port
