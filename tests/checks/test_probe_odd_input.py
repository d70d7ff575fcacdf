"""Every check survives odd input (wrong types, None, strings for numbers) in the Service, pods, nodes,
load-balancer data and node facts without crashing, and so do the shared views (checks/lbview.py,
State.selected_pods) and the probe plan the collector follows: no skip, no `error` "crashed" finding."""

from __future__ import annotations

import copy
import random

import pytest

from checks.collect.node import facts_from_text
from checks.lbview import health_checks
from checks.model import Status
from checks.probe._targets import plan
from checks.registry import default_registry
from checks.state import ProbeResult
from tests import factories as f
from tests.collect.test_node import IPTABLES_HARDENED, SYSCTL_TKE

IDS = [s.id for s in default_registry().all()]
ODD = [None, "", "x", 0, -1, "80", 3.5, [], {}, True, "ALL", "0.0.0.0/0"]


def _mutate(obj, rng):
    if isinstance(obj, dict):
        for key in list(obj):
            if rng.random() < 0.2:
                obj[key] = rng.choice(ODD)
            else:
                _mutate(obj[key], rng)
    elif isinstance(obj, list):
        for i in range(len(obj)):
            if rng.random() < 0.15:
                obj[i] = rng.choice(ODD)
            else:
                _mutate(obj[i], rng)


def _state(seed: int):
    tencent = seed % 2 == 0
    ann = {"service.cloud.tencent.com/direct-access": "true"} if seed % 4 == 0 else {}
    svc = f.service(ports=[{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP", "nodePort": 30080}],
                    annotations=ann or None, external_traffic_policy="Local" if seed % 3 == 0 else None, healthCheckNodePort=32456)
    pods = [f.pod(f"web-{i}", labels={"app": "web"}, ip=f"127.0.0.{i + 2}",
                  containers=[f.container(ports=[{"name": "http", "containerPort": 8080, "protocol": "TCP"}])]) for i in range(2)]
    state = f.make_state(svc, *pods, f.node("node-1"), probe=True, node=True)
    if tencent:
        state.tencent.load_balancers = [{"LoadBalancerId": "lb-1", "LoadBalancerVips": ["127.0.0.100"]}]
        state.tencent.listeners = {"lb-1": [{"ListenerId": "lbl-1", "Protocol": "TCP", "Port": 80, "HealthCheck": {
            "HealthSwitch": 1, "CheckType": "HTTP", "HttpCheckPath": "/healthz", "HttpCheckDomain": "a.example", "HttpCode": 2,
            "TimeOut": 2, "SourceIpType": seed % 2, "HttpCheckMethod": "GET", "CheckPort": 32456}}]}
    else:
        state.aws.target_groups = [{"TargetGroupArn": "arn:aws:x:tg/a", "TargetType": "ip", "Port": 8080, "HealthCheckProtocol": "HTTP",
                                    "HealthCheckPort": "traffic-port", "HealthCheckPath": "/healthz", "Matcher": {"HttpCode": "200"},
                                    "HealthCheckTimeoutSeconds": 5}]
        state.aws.vpcs = [{"VpcId": "vpc-1", "CidrBlock": "127.0.0.0/16", "CidrBlockAssociationSet": [{"CidrBlock": "127.1.0.0/16"}]}]
    state.node_facts = {"node-1": facts_from_text(SYSCTL_TKE + IPTABLES_HARDENED + "tcp 0 0 127.0.0.1:8080 0.0.0.0:* LISTEN 1/app\n")}
    state.probes = [
        ProbeResult(kind="http", subject="pod shop/web-0", address="127.0.0.2", port=8080, ok=False, path="/healthz",
                    status_code=404, error="status 404 not in 200", expected="200", timeout_s=5),
        ProbeResult(kind="tcp", subject="pod shop/web-0", address="127.0.0.2", port=8080, ok=False, error="connection refused", timeout_s=5),
        ProbeResult(kind="listen", subject="pod shop/web-0", address="127.0.0.1", port=8080, ok=False, error="localhost only", timeout_s=5),
    ]
    return state


@pytest.mark.parametrize("seed", range(40))
def test_no_check_crashes_on_odd_data(seed):
    rng = random.Random(seed)
    state = _state(seed)
    for kind in ("Service", "Pod", "Node"):
        objs = copy.deepcopy(state.k8s.objects.get(kind, []))
        for o in objs:
            for part in ("spec", "status"):
                if isinstance(o.get(part), dict):
                    _mutate(o[part], rng)
        state.k8s.objects[kind] = objs
    for attr in ("listeners", "load_balancers"):
        value = copy.deepcopy(getattr(state.tencent, attr))
        _mutate(value, rng)
        setattr(state.tencent, attr, value)
    for attr in ("target_groups", "vpcs"):
        value = copy.deepcopy(getattr(state.aws, attr))
        _mutate(value, rng)
        setattr(state.aws, attr, value)
    facts = copy.deepcopy(state.node_facts)
    _mutate(facts, rng)
    state.node_facts = facts
    health_checks(state)  # the shared views every layer uses (checks/lbview.py, checks/state.py)
    state.selected_pods  # noqa: B018
    plan(state)  # the collector's plan must not crash either
    for check_id in IDS:
        for finding in f.run_check(check_id, state, odd=True):
            assert not (finding.status == Status.ERROR and "crashed" in finding.summary), (check_id, finding.summary)


@pytest.mark.parametrize("seed", range(40))
def test_odd_ports_addresses_and_node_facts(seed):
    """What only this layer reads (Service ports, container ports, pod/node addresses, node facts), made odd."""
    rng = random.Random(1000 + seed)
    state = _state(seed)
    for o in state.k8s.objects.get("Service", []):
        _mutate(o["spec"]["ports"], rng)
    for o in state.k8s.objects.get("Pod", []):
        _mutate(o["spec"]["containers"], rng)
        _mutate(o["status"], rng)
    for o in state.k8s.objects.get("Node", []):
        _mutate(o["status"], rng)
    _mutate(state.node_facts, rng)
    targets, _notes = plan(state)
    assert all(isinstance(t.address, str) and isinstance(t.port, int) for t in targets)
    for check_id in IDS:
        for finding in f.run_check(check_id, state, odd=True):
            assert not (finding.status == Status.ERROR and "crashed" in finding.summary), (check_id, finding.summary)
