"""K8S-TARGETPORT: every Service port's targetPort is a port the selected containers serve.

Why it matters (seed step "Verify that the service is configured for targetPort"): the
Service forwards to targetPort on the pod. With targetPort 8080 while the container listens
on 80, every packet lands on a closed port and every health check fails, although pods are
Running and Ready. A named targetPort that some pods do not declare removes those pods from
the endpoints of that port.

A numeric targetPort that is not declared as a containerPort can still work (declaring ports
is informational), so this fails only when the containers declare ports and none matches,
and only warns when they declare none. A readiness/liveness probe that passes on the
targetPort, or an in-cluster probe that reached it, proves the app listens there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from checks.k8s._podfacts import (
    as_dict,
    as_int,
    containers,
    declared_ports,
    fmt_ports,
    fmt_selector,
    pod_health,
    pod_ip,
    probe_port,
    ref,
    resolve_port,
)
from checks.model import Finding, FixPlan, ObjectRef, Status
from checks.registry import check
from checks.state import State, meta
from checks.values import as_list, as_str

ID = "K8S-TARGETPORT"


@dataclass
class PortVerdict:
    index: int
    port: dict[str, Any]
    label: str  # "spec.ports[0] (http 80/TCP)"
    target: Any
    ok: list[str] = field(default_factory=list)  # pod names
    resolved: dict[str, int] = field(default_factory=dict)  # pod -> number (named targetPort)
    mismatch: list[dict[str, Any]] = field(default_factory=list)  # pods declaring ports, none matching
    undeclared: list[dict[str, Any]] = field(default_factory=list)  # pods declaring no ports
    missing_name: list[dict[str, Any]] = field(default_factory=list)  # named targetPort absent
    proven: list[str] = field(default_factory=list)  # evidence that the app listens anyway

    @property
    def broken(self) -> bool:
        return bool(self.mismatch or self.missing_name)


def _proto(value: Any) -> str:
    return str(value or "TCP").upper()


def _listens_proof(state: State, pod: dict[str, Any], number: int) -> str | None:
    """Why we know the app listens on `number` although no container declares it."""
    ready = pod_health(pod).ready
    for c in containers(pod):
        for kind in ("readinessProbe", "livenessProbe", "startupProbe"):
            if resolve_port(probe_port(c, kind), c) == number and ready:
                return f"Pod {ref(pod)} container {c.get('name')} {kind} uses port {number} and the pod is Ready"
    ip = pod_ip(pod)
    for pr in state.probes:
        if pr.address == ip and pr.port == number and pr.ok:
            return f"in-cluster {pr.kind} probe to {ip}:{number} succeeded"
    return None


def _evaluate(state: State, i: int, sp: dict[str, Any], pods: list[dict[str, Any]]) -> PortVerdict:
    proto = _proto(sp.get("protocol"))
    target = sp.get("targetPort") if sp.get("targetPort") not in (None, "") else sp.get("port")
    label = f"spec.ports[{i}] ({(as_str(sp.get('name')) + ' ').lstrip()}{sp.get('port')}/{proto})"
    v = PortVerdict(i, sp, label, target)
    number = as_int(target)
    for pod in pods:
        ports = [(num, pname, pr) for c in containers(pod) for num, pname, pr in declared_ports(c) if num is not None]
        if number is not None:
            if any(num == number and pr == proto for num, _n, pr in ports):
                v.ok.append(meta(pod).get("name") or "?")
                continue
            proof = _listens_proof(state, pod, number)
            if proof:
                v.ok.append(meta(pod).get("name") or "?")
                v.proven.append(proof)
            elif ports:
                v.mismatch.append(pod)
            else:
                v.undeclared.append(pod)
        else:
            name = str(target)
            hits = [num for num, pname, pr in ports if pname == name and pr == proto and num is not None]
            if hits:
                v.ok.append(meta(pod).get("name") or "?")
                v.resolved[meta(pod).get("name") or "?"] = hits[0]
            else:
                v.missing_name.append(pod)
    return v


def _choose(v: PortVerdict, pods: list[dict[str, Any]]) -> tuple[int | None, list[int]]:
    """The targetPort that would make the broken pods work, if unambiguous."""
    proto = _proto(v.port.get("protocol"))
    bad = v.mismatch + v.missing_name
    per_pod = []
    for pod in bad:
        per_pod.append({num for c in containers(pod) for num, _n, pr in declared_ports(c) if pr == proto and num is not None})
    common = set.intersection(*per_pod) if per_pod else set()
    if v.resolved:  # named targetPort: the number the good pods resolve it to, if the bad pods serve it
        numbers = set(v.resolved.values())
        if len(numbers) == 1 and numbers <= common:
            return numbers.pop(), sorted(common)
        return None, sorted(common)
    if v.ok:  # some pods already serve the current targetPort: changing it would break them
        return None, sorted(common)
    if len(common) == 1:
        return next(iter(common)), sorted(common)
    if not common:
        return None, []
    # several candidates: a port named like the Service port, the same number, the readiness port
    for pod in bad[:1]:
        for c in containers(pod):
            for num, pname, pr in declared_ports(c):
                if pr == proto and num in common and pname and pname == v.port.get("name"):
                    return num, sorted(common)
    if as_int(v.port.get("port")) in common:
        return as_int(v.port.get("port")), sorted(common)
    for pod in bad[:1]:
        for c in containers(pod):
            rp = resolve_port(probe_port(c), c)
            if rp in common:
                return rp, sorted(common)
    return None, sorted(common)


def _probed_elsewhere(v: PortVerdict) -> int | None:
    """The one port the Ready pods' passing probes use, when it is not the undeclared targetPort.

    Containers that declare no ports still show where the app listens: a probe that passes on
    port P. With every such probe on P and none on the targetPort, P is the port known to answer.
    """
    ports: set[int] = set()
    for pod in v.undeclared:
        if not pod_health(pod).ready:
            return None
        for c in containers(pod):
            for kind in ("readinessProbe", "livenessProbe", "startupProbe"):
                port = resolve_port(probe_port(c, kind), c)
                if port is not None:
                    ports.add(port)
    return next(iter(ports)) if len(ports) == 1 and as_int(v.target) not in ports else None


def _probed_elsewhere_finding(state: State, v: PortVerdict, port: int, evidence: list[str]) -> Finding:
    ns, name = state.target.namespace, state.target.service
    entry = {"name": v.port["name"]} if v.port.get("name") else {}
    entry.update({"port": v.port.get("port"), "protocol": _proto(v.port.get("protocol")), "targetPort": port})
    patch = {"spec": {"ports": [entry]}}
    body = json.dumps(patch, separators=(",", ":"))
    fix = FixPlan(
        id="FIX-TARGETPORT",
        title=f"Set targetPort of Service {state.target.ref}: port {v.port.get('port')} -> targetPort {port}",
        patch=patch,
        command=f"kubectl patch svc {name} -n {ns} --type=strategic -p '{body}'",
        target=ObjectRef("Service", name, ns, "v1", meta(state.service or {}).get("resourceVersion")),
        patch_type="strategic-merge",
        tradeoff="Takes effect at once for new connections; the NodePort and the load balancer listener stay the same.",
    )
    pods = v.undeclared
    return Finding(
        ID,
        Status.WARN,
        f"Service {state.target.ref} {v.label} sends to targetPort {v.target}, but the app is known to answer on {port}: "
        f"the passing probes of {len(pods)} Ready pod(s) use {port}, no container declares {v.target}",
        evidence=[*evidence, f"probes of {', '.join(ref(p) for p in pods[:5])} pass on port {port}, none on {v.target}"],
        next_step=f"Check with kubectl exec -n {ns} {meta(pods[0]).get('name')} -- ss -ltn; if nothing listens on {v.target}: {fix.command}",
        fix=fix,
        cause="targetport",
        supports=("targetport",),
    )


@check(
    ID,
    title="Service targetPort matches a container port",
    seed="Verify that the service is configured for targetPort",
    reads=("k8s.service", "k8s.pods"),
    fixes=("FIX-TARGETPORT",),
    severity=88,
)
def targetport(state: State) -> Finding:
    """targetPort must be the port the container serves; otherwise every health check hits a closed port."""
    svc = state.service or {}
    spec = as_dict(svc.get("spec"))
    ns, name = state.target.namespace, state.target.service
    if spec.get("type") == "ExternalName":
        return Finding(ID, Status.SKIP, f"Service {state.target.ref} is of type ExternalName: no targetPort")
    if not state.selector:
        return Finding(ID, Status.SKIP, f"Service {state.target.ref} has no selector: targetPorts point at hand-managed endpoints")
    pods = sorted(state.selected_pods, key=ref)
    if not pods:
        return Finding(ID, Status.SKIP, f"No pod matches selector {fmt_selector(state.selector)}; nothing to compare targetPort with (see K8S-SELECTOR)")
    svc_ports = [p for p in as_list(spec.get("ports")) if isinstance(p, dict)]
    if not svc_ports:
        return Finding(ID, Status.FAIL, f"Service {state.target.ref} declares no ports", evidence=[f"Service {state.target.ref} spec.ports is empty"],
                       next_step=f"kubectl edit svc {name} -n {ns}  (add the port the load balancer forwards to)", cause="targetport")

    verdicts = [_evaluate(state, i, sp, pods) for i, sp in enumerate(svc_ports)]
    evidence: list[str] = []
    for v in verdicts:
        evidence.append(f"Service {state.target.ref} {v.label} targetPort = {v.target}")
    shown_pods = []
    for v in verdicts:
        for pod in v.mismatch + v.missing_name + v.undeclared:
            if pod not in shown_pods:
                shown_pods.append(pod)
    for pod in (shown_pods or pods)[:6]:
        for c in containers(pod):
            evidence.append(f"Pod {ref(pod)} container {c.get('name')} ports = {fmt_ports(c)}")
    for v in verdicts:
        evidence.extend(v.proven)

    broken = [v for v in verdicts if v.broken]
    if broken:
        patch_ports: list[dict[str, Any]] = []
        unresolved: list[str] = []
        for v in broken:
            number, candidates = _choose(v, pods)
            if number is None:
                unresolved.append(f"{v.label}: candidates {candidates or 'none'}")
                continue
            entry: dict[str, Any] = {}
            if v.port.get("name"):
                entry["name"] = v.port["name"]
            entry.update({"port": v.port.get("port"), "protocol": _proto(v.port.get("protocol")), "targetPort": number})
            patch_ports.append(entry)
        first = broken[0]
        bad_pods = first.mismatch or first.missing_name
        if first.mismatch:
            declared = sorted({f"{num}/{pr}" for p in first.mismatch for c in containers(p) for num, _n, pr in declared_ports(c) if num is not None})
            summary = (
                f"Service {state.target.ref} port {first.port.get('port')} forwards to targetPort {first.target}, "
                f"but the pods' containers declare {', '.join(declared)}: traffic and health checks hit a closed port"
            )
            cause_text = f"{len(first.mismatch)} of {len(pods)} selected pods declare ports but not {first.target}"
        else:
            summary = (
                f"Service {state.target.ref} port {first.port.get('port')} uses named targetPort '{first.target}', "
                f"which {len(first.missing_name)} of {len(pods)} pods do not declare: they get no endpoint on that port"
            )
            cause_text = f"named port '{first.target}' is missing in " + ", ".join(ref(p) for p in first.missing_name[:5])
        evidence.insert(len(verdicts), cause_text)
        if unresolved:
            evidence.append("No unambiguous replacement for " + "; ".join(unresolved))
        fix = None
        if patch_ports and not unresolved:
            patch = {"spec": {"ports": patch_ports}}
            body = json.dumps(patch, separators=(",", ":"))
            change = ", ".join(f"port {p['port']} -> targetPort {p['targetPort']}" for p in patch_ports)
            fix = FixPlan(
                id="FIX-TARGETPORT",
                title=f"Set targetPort of Service {state.target.ref}: {change}",
                patch=patch,
                command=f"kubectl patch svc {name} -n {ns} --type=strategic -p '{body}'",
                target=ObjectRef("Service", name, ns, "v1", meta(svc).get("resourceVersion")),
                patch_type="strategic-merge",
                tradeoff="Takes effect at once for new connections; the NodePort and the load balancer listener stay the same.",
            )
            next_step = fix.command  # one command per fix: the one the bot would run
        else:
            pod0 = ref(bad_pods[0]) if bad_pods else ""
            next_step = (
                f"Find the port the app listens on (kubectl exec -n {ns} {pod0.split('/')[-1]} -- ss -ltnp, or the image docs), "
                f"then: kubectl edit svc {name} -n {ns} and set spec.ports[{first.index}].targetPort"
            )
        return Finding(ID, Status.FAIL, summary, evidence=evidence, next_step=next_step, fix=fix, cause="targetport")

    unknown = [v for v in verdicts if v.undeclared]
    if unknown and (elsewhere := _probed_elsewhere(unknown[0])):
        return _probed_elsewhere_finding(state, unknown[0], elsewhere, evidence)
    if unknown:
        v = unknown[0]
        return Finding(
            ID,
            Status.WARN,
            f"Cannot confirm targetPort {v.target} of {state.target.ref}: the containers of {len(v.undeclared)} pod(s) declare no ports",
            evidence=evidence,
            next_step=f"Check the app listens on {v.target}: kubectl exec -n {ns} {meta(v.undeclared[0]).get('name')} -- ss -ltn "
            f"(or curl it from another pod); declare it under containers[].ports",
            supports=("targetport",),
        )
    summary = f"Every port of {state.target.ref} forwards to a port the selected containers serve (" + ", ".join(
        f"{v.port.get('port')}->{v.target}" for v in verdicts
    ) + ")"
    return Finding(ID, Status.PASS, summary, evidence=evidence)
