"""Builders for Kubernetes objects in `kubectl get -o json` shape, and for collected State.

Addresses default to 127.0.0.0/8 so that nothing a probe could reach lies outside loopback.
"""

from __future__ import annotations

import copy
import os
from typing import Any

from checks.model import Target
from checks.registry import READS
from checks.state import State

# When set, run_check appends "CHECK-ID status" for each finding of a real-shape scenario to this file.
RECORD_ENV = "LBHEALTH_RECORD_FINDINGS"


def _meta(name: str, namespace: str | None, labels=None, annotations=None, **extra) -> dict[str, Any]:
    m: dict[str, Any] = {"name": name, "uid": f"uid-{namespace}-{name}", "resourceVersion": "1000"}
    if namespace is not None:
        m["namespace"] = namespace
    if labels:
        m["labels"] = dict(labels)
    if annotations:
        m["annotations"] = dict(annotations)
    m.update(extra)
    return m


def service(
    name: str = "web",
    namespace: str = "shop",
    *,
    selector: dict[str, str] | None = None,
    ports: list[dict[str, Any]] | None = None,
    type: str = "LoadBalancer",
    annotations: dict[str, str] | None = None,
    external_traffic_policy: str | None = None,
    hostname: str | None = None,
    ingress_ip: str | None = None,
    **spec: Any,
) -> dict[str, Any]:
    ports = ports if ports is not None else [{"name": "http", "port": 80, "targetPort": 80, "protocol": "TCP", "nodePort": 30080}]
    s: dict[str, Any] = {
        "type": type,
        "selector": {"app": name} if selector is None else selector,
        "ports": copy.deepcopy(ports),
        "clusterIP": "127.0.9.1",
    }
    if type in ("LoadBalancer", "NodePort"):
        s["externalTrafficPolicy"] = external_traffic_policy or "Cluster"
    s.update(spec)
    status: dict[str, Any] = {"loadBalancer": {}}
    if hostname or ingress_ip:
        entry = {"hostname": hostname} if hostname else {"ip": ingress_ip}
        status["loadBalancer"]["ingress"] = [entry]
    return {"apiVersion": "v1", "kind": "Service", "metadata": _meta(name, namespace, annotations=annotations), "spec": s, "status": status}


def container(
    name: str = "app",
    *,
    ports: list[dict[str, Any]] | None = None,
    readiness_path: str | None = None,
    readiness_port: int | str | None = None,
    image: str = "nginx:1.25",
) -> dict[str, Any]:
    c: dict[str, Any] = {"name": name, "image": image, "ports": ports if ports is not None else [{"name": "http", "containerPort": 80, "protocol": "TCP"}]}
    if readiness_path is not None:
        c["readinessProbe"] = {"httpGet": {"path": readiness_path, "port": readiness_port or 80}, "periodSeconds": 10}
    return c


def pod(
    name: str = "web-1",
    namespace: str = "shop",
    *,
    labels: dict[str, str] | None = None,
    ip: str = "127.0.0.2",
    node: str = "node-1",
    containers: list[dict[str, Any]] | None = None,
    phase: str = "Running",
    ready: bool = True,
    restarts: int = 0,
    waiting_reason: str | None = None,
    last_terminated_reason: str | None = None,
    conditions: list[dict[str, Any]] | None = None,
    readiness_gates: list[str] | None = None,
) -> dict[str, Any]:
    containers = containers if containers is not None else [container()]
    statuses = []
    for c in containers:
        cs: dict[str, Any] = {"name": c["name"], "ready": ready, "restartCount": restarts, "image": c.get("image", ""),
                              "imageID": "" if waiting_reason else f"{c.get('image', '')}@sha256:{'0' * 64}", "started": ready}
        if waiting_reason:
            cs["state"] = {"waiting": {"reason": waiting_reason, "message": f"{waiting_reason} for container {c['name']}"}}
        elif phase == "Running":
            cs["state"] = {"running": {"startedAt": "2026-11-21T10:00:00Z"}}
        if last_terminated_reason:
            cs["lastState"] = {"terminated": {"reason": last_terminated_reason, "exitCode": 137 if last_terminated_reason == "OOMKilled" else 1}}
        statuses.append(cs)
    conds = conditions if conditions is not None else [
        {"type": "Ready", "status": "True" if ready else "False"},
        {"type": "ContainersReady", "status": "True" if ready else "False"},
        {"type": "PodScheduled", "status": "True" if node else "False"},
    ]
    spec: dict[str, Any] = {"containers": copy.deepcopy(containers)}
    if node:
        spec["nodeName"] = node
    if readiness_gates:
        spec["readinessGates"] = [{"conditionType": g} for g in readiness_gates]
    status: dict[str, Any] = {"phase": phase, "conditions": conds}
    if phase != "Pending":
        status["podIP"] = ip
        status["podIPs"] = [{"ip": ip}]
        status["hostIP"] = "127.0.1.1"
        status["containerStatuses"] = statuses
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": _meta(name, namespace, labels=labels if labels is not None else {"app": "web"}),
        "spec": spec,
        "status": status,
    }


def node(
    name: str = "node-1",
    *,
    internal_ip: str = "127.0.1.1",
    external_ip: str | None = None,
    ready: bool = True,
    provider_id: str | None = None,
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    addresses = [{"type": "InternalIP", "address": internal_ip}, {"type": "Hostname", "address": name}]
    if external_ip:
        addresses.append({"type": "ExternalIP", "address": external_ip})
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": _meta(name, None, labels=labels or {"kubernetes.io/hostname": name}),
        "spec": {"providerID": provider_id or f"aws:///us-east-1a/i-{abs(hash(name)) % 10**17:017d}"},
        "status": {"addresses": addresses, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def endpoint_slice(
    service_name: str = "web",
    namespace: str = "shop",
    *,
    endpoints: list[tuple[str, bool, str, str]] | None = None,
    port: int = 80,
    port_name: str = "http",
) -> dict[str, Any]:
    """endpoints: (ip, ready, pod name, node name)."""
    endpoints = endpoints if endpoints is not None else [("127.0.0.2", True, "web-1", "node-1")]
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": _meta(f"{service_name}-abcde", namespace, labels={"kubernetes.io/service-name": service_name}),
        "addressType": "IPv4",
        "ports": [{"name": port_name, "port": port, "protocol": "TCP"}],
        "endpoints": [
            {
                "addresses": [ip],
                "conditions": {"ready": ready, "serving": ready, "terminating": False},
                "targetRef": {"kind": "Pod", "name": pod_name, "namespace": namespace},
                "nodeName": node_name,
            }
            for ip, ready, pod_name, node_name in endpoints
        ],
    }


def ingress(
    name: str = "web",
    namespace: str = "shop",
    *,
    service_name: str = "web",
    port: int | str = 80,
    annotations: dict[str, str] | None = None,
    ingress_class: str | None = "alb",
    host: str | None = None,
) -> dict[str, Any]:
    port_ref = {"number": port} if isinstance(port, int) else {"name": port}
    rule: dict[str, Any] = {"http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {"service": {"name": service_name, "port": port_ref}}}]}}
    if host:
        rule["host"] = host
    spec: dict[str, Any] = {"rules": [rule]}
    if ingress_class:
        spec["ingressClassName"] = ingress_class
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": _meta(name, namespace, annotations=annotations), "spec": spec}


def event(
    involved_kind: str,
    involved_name: str,
    namespace: str = "shop",
    *,
    reason: str = "Unhealthy",
    message: str = "Readiness probe failed: HTTP probe failed with statuscode: 404",
    type: str = "Warning",
    count: int = 3,
    last_timestamp: str = "2026-11-21T10:05:00Z",
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": _meta(f"{involved_name}.{abs(hash((reason, message))) % 10**8:x}", namespace),
        "involvedObject": {"kind": involved_kind, "name": involved_name, "namespace": namespace},
        "reason": reason,
        "message": message,
        "type": type,
        "count": count,
        "lastTimestamp": last_timestamp,
    }


def _workload_spec(name: str, labels: dict[str, str], containers: list[dict[str, Any]] | None) -> dict[str, Any]:
    containers = containers or [{"name": name, "image": f"registry.k8s.io/{name}:v1.30.4"}]
    return {
        "selector": {"matchLabels": dict(labels)},
        "template": {"metadata": {"labels": dict(labels)}, "spec": {"containers": copy.deepcopy(containers)}},
    }


def daemonset(
    name: str = "kube-proxy",
    namespace: str = "kube-system",
    *,
    labels: dict[str, str] | None = None,
    containers: list[dict[str, Any]] | None = None,
    desired: int = 2,
    ready: int | None = None,
    resource_version: str = "777",
) -> dict[str, Any]:
    """An apps/v1 DaemonSet with the status fields the API always returns."""
    ready = desired if ready is None else ready
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": _meta(name, namespace, resourceVersion=resource_version),
        "spec": _workload_spec(name, labels or {"k8s-app": name}, containers),
        "status": {"currentNumberScheduled": desired, "desiredNumberScheduled": desired, "numberMisscheduled": 0,
                   "numberReady": ready, "numberAvailable": ready, "updatedNumberScheduled": desired},
    }


def deployment(
    name: str,
    namespace: str = "kube-system",
    *,
    labels: dict[str, str] | None = None,
    containers: list[dict[str, Any]] | None = None,
    replicas: int = 2,
    ready: int | None = None,
) -> dict[str, Any]:
    """An apps/v1 Deployment; status omits readyReplicas when none is ready, as the API does."""
    labels = labels or {"app.kubernetes.io/name": name}
    ready = replicas if ready is None else ready
    status: dict[str, Any] = {"replicas": replicas}
    if ready:
        status.update(readyReplicas=ready, availableReplicas=ready)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(name, namespace, labels=labels),
        "spec": {"replicas": replicas, **_workload_spec(name, labels, containers)},
        "status": status,
    }


def make_state(*objects: dict[str, Any], target: str = "shop/web", reads: set[str] | None = None, **options: Any) -> State:
    """A State holding these objects, with every read marked done unless `reads` says otherwise."""
    state = State(target=Target.parse(target))
    for obj in objects:
        state.k8s.add(copy.deepcopy(obj))
    state.reads_done = set(READS) if reads is None else set(reads)
    state.options.update({"probe": False, "node": False, "offline": False})
    state.options.update(options)
    return state


def run_check(check_id: str, state: State, *, odd: bool = False):
    """Run one registered check the way the runner does (isolation included).

    The State must hold what the real APIs return (validated against the SDKs' models, see
    tests/shapes.py) unless `odd` says the test feeds odd input on purpose.
    """
    from checks.registry import default_registry
    from checks.runner import run_one
    from tests.shapes import state_problems

    if not odd:
        problems = state_problems(state)
        assert not problems, "this fixture is not what the APIs return:\n" + "\n".join(problems[:20])
    findings = run_one(default_registry().get(check_id), state)
    if not odd and (record := os.environ.get(RECORD_ENV)):
        with open(record, "a") as out:  # one line per finding: tests/engine/test_catalogue.py reads them
            out.writelines(f"{fd.check_id} {fd.status.value}\n" for fd in findings)
    return findings

