"""K8S-ENDPOINTS: the Service has ready endpoints.

Why it matters (seed step "Check for missing endpoints"): the load balancer's targets are
the Service's endpoints (ip targets) or are forwarded to them by kube-proxy (instance
targets). With no ready endpoint every health check fails. This is a symptom: the cause is a
selector that matches nothing or pods that are not ready, and the evidence says which.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from checks.k8s._podfacts import as_dict, as_list, fmt_selector, name_of, pod_health, pod_ip, ref
from checks.model import Finding, Status
from checks.registry import check
from checks.state import State

ID = "K8S-ENDPOINTS"


@dataclass
class Address:
    ip: str
    ready: bool
    pod: str  # pod name or ""
    node: str
    ports: str
    source: str  # "EndpointSlice shop/web-abc" or "Endpoints shop/web"
    terminating: bool = False


def _from_slices(slices: list[dict[str, Any]]) -> list[Address]:
    out = []
    for s in slices:
        ports = ",".join(f"{p.get('port') if p.get('port') is not None else 'any port'}/{p.get('protocol') or 'TCP'}" for p in as_list(s.get("ports")) if isinstance(p, dict)) or "no ports"
        for ep in as_list(s.get("endpoints")):
            if not isinstance(ep, dict):
                continue
            cond = as_dict(ep.get("conditions"))
            # "ready" absent means unknown, which consumers treat as ready (discovery.k8s.io/v1).
            ready = cond.get("ready") is not False
            tref = as_dict(ep.get("targetRef"))
            for ip in as_list(ep.get("addresses")):
                out.append(
                    Address(
                        ip=str(ip),
                        ready=ready,
                        pod=str(tref.get("name") or "") if tref.get("kind", "Pod") == "Pod" else "",
                        node=str(ep.get("nodeName") or ""),
                        ports=ports,
                        source=f"EndpointSlice {ref(s)}",
                        terminating=cond.get("terminating") is True,
                    )
                )
    return out


def _from_endpoints(ep: dict[str, Any]) -> list[Address]:
    out = []
    for subset in as_list(ep.get("subsets")):
        if not isinstance(subset, dict):
            continue
        ports = ",".join(f"{p.get('port') if p.get('port') is not None else 'any port'}/{p.get('protocol') or 'TCP'}" for p in as_list(subset.get("ports")) if isinstance(p, dict)) or "no ports"
        for key, ready in (("addresses", True), ("notReadyAddresses", False)):
            for a in as_list(subset.get(key)):
                if not isinstance(a, dict):
                    continue
                tref = as_dict(a.get("targetRef"))
                out.append(Address(str(a.get("ip") or "?"), ready, str(tref.get("name") or ""), str(a.get("nodeName") or ""), ports, f"Endpoints {ref(ep)}"))
    return out


def _why(state: State, addr: Address) -> str:
    pod = state.k8s.get("Pod", state.target.namespace, addr.pod) if addr.pod else state.pod_by_ip(addr.ip)
    if addr.terminating:
        return "pod is terminating"
    if pod is None:
        return "no such pod was read (deleted, or pods not read)"
    return f"pod {name_of(pod)}: {pod_health(pod).short}"


@check(
    ID,
    title="The Service has ready endpoints",
    seed="Check for missing endpoints",
    reads=("k8s.service", "k8s.endpoints"),
    uses=("k8s.pods",),
    decides=("k8s.endpoints",),
    symptom=True,
    severity=40,
)
def endpoints(state: State) -> Finding:
    """No ready endpoint means the load balancer has nothing healthy to send to (a symptom; see why)."""
    svc = state.service or {}
    spec = as_dict(svc.get("spec"))
    ns, name = state.target.namespace, state.target.service
    if spec.get("type") == "ExternalName":
        return Finding(ID, Status.SKIP, f"Service {state.target.ref} is of type ExternalName: it has no endpoints")
    slices = state.endpoint_slices
    legacy = state.endpoints

    if slices:
        addrs = _from_slices(slices)
        objects = ", ".join(f"EndpointSlice {ref(s)}" for s in slices)
    elif legacy is not None:
        addrs = _from_endpoints(legacy)
        objects = f"Endpoints {ref(legacy)} (no EndpointSlice read)"
    else:
        addrs, objects = [], ""

    sel = state.selector
    selected = state.selected_pods if sel else []
    pods_known = bool(state.namespace_pods) or ("k8s.pods" not in state.read_errors and (state.did_read("k8s.pods") or state.did_read("k8s.namespace_pods")))
    evidence = [f"Read: {objects}" if objects else f"No EndpointSlice or Endpoints object exists for Service {state.target.ref}"]
    ready = [a for a in addrs if a.ready]
    not_ready = [a for a in addrs if not a.ready]
    for a in ready[:10]:
        evidence.append(f"ready {a.ip} ports {a.ports}" + (f" -> pod {a.pod}" if a.pod else "") + (f" on node {a.node}" if a.node else ""))
    for a in not_ready[:20]:
        evidence.append(f"NOT ready {a.ip} ports {a.ports}" + (f" on node {a.node}" if a.node else "") + f": {_why(state, a)}")
    if len(not_ready) > 20:
        evidence.append(f"... and {len(not_ready) - 20} more not-ready addresses")
    if len(ready) > 10:
        evidence.append(f"... and {len(ready) - 10} more ready addresses")
    if sel and pods_known:
        evidence.append(f"Selector {fmt_selector(sel)} selects {len(selected)} pod(s)" + (": " + ", ".join(sorted(name_of(p) for p in selected)[:8]) if selected else ""))

    if not addrs:
        if not sel:
            summary = f"Service {state.target.ref} has no selector and no endpoint addresses: nothing receives its traffic"
            supports: tuple[str, ...] = ()
            next_step = f"kubectl get endpointslices -n {ns} -l kubernetes.io/service-name={name}  (a Service without a selector needs its endpoints added by hand, or a selector)"
        elif not selected and not pods_known:
            summary = f"Service {state.target.ref} has no endpoints (its pods could not be read to say why: {state.why_not_read('k8s.pods')})"
            supports = ()
            next_step = f"kubectl get pods -n {ns} -l {fmt_selector(sel)} -o wide"
        elif not selected:
            summary = f"Service {state.target.ref} has no endpoints because its selector {fmt_selector(sel)} matches no pod"
            supports = ("selector",)
            next_step = f"kubectl get pods -n {ns} --show-labels; compare with kubectl get svc {name} -n {ns} -o jsonpath='{{.spec.selector}}' (see K8S-SELECTOR)"
        else:
            summary = f"Service {state.target.ref} has no endpoints although {len(selected)} pod(s) match its selector"
            unscheduled = sorted(name_of(p) for p in selected if not pod_ip(p))
            if unscheduled:  # Pending pods have no IP yet: nothing to list, whatever the ports say
                summary += f": {len(unscheduled)} of them have no IP yet (not scheduled or not started)"
                supports = ("pods-not-ready",)
                next_step = f"kubectl describe pod {unscheduled[0]} -n {ns}  (its Events say why it is not running; see K8S-POD-READY)"
            else:
                supports = ("pods-not-ready", "targetport")
                next_step = f"kubectl describe svc {name} -n {ns}  (the pods must be Running and declare the named targetPort: see K8S-TARGETPORT)"
        return Finding(ID, Status.FAIL, summary, evidence=evidence, next_step=next_step, supports=supports)
    if not ready:
        return Finding(
            ID,
            Status.FAIL,
            f"Service {state.target.ref} has no ready endpoint: all {len(not_ready)} address(es) are not ready",
            evidence=evidence,
            next_step=f"kubectl describe pod {not_ready[0].pod or ''} -n {ns}  (see K8S-POD-READY for why the pods are not ready)".replace("pod  -n", "pods -n"),
            supports=("pods-not-ready",),
        )
    known = {a.ip for a in addrs}
    missing = sorted(name_of(p) for p in selected if pod_ip(p) and pod_ip(p) not in known)
    if missing:
        evidence.append(f"Selected pods with an IP but absent from the endpoints: {', '.join(missing[:8])}")
    if not_ready:
        return Finding(
            ID,
            Status.WARN,
            f"{len(not_ready)} of {len(addrs)} endpoints of {state.target.ref} are not ready; the load balancer only has {len(ready)} healthy backend(s)",
            evidence=evidence,
            next_step=f"kubectl describe pod {not_ready[0].pod or ''} -n {ns}  (see K8S-POD-READY)".replace("pod  -n", "pods -n"),
            supports=("pods-not-ready",),
        )
    return Finding(ID, Status.PASS, f"Service {state.target.ref} has {len(ready)} ready endpoint(s)", evidence=evidence)
