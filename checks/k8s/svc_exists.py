"""K8S-SVC-EXISTS: the Service being diagnosed exists.

Why it matters: every other Kubernetes check starts from the Service. A typo in the name or
the wrong namespace (`-n`) is the most common reason a diagnosis "finds nothing"; saying so
at once, with the names that do exist, saves the on-call engineer a round trip.
"""

from __future__ import annotations

import difflib

from checks.k8s._podfacts import as_dict, as_list, fmt_selector, name_of, ns_of
from checks.model import Finding, Status
from checks.registry import check
from checks.state import State

ID = "K8S-SVC-EXISTS"
# The claim of a Service that is gone while something still sends traffic to it: a diagnosis, not bad input.
DANGLING = "missing-service"
SERVICE_TAGS = ("kubernetes.io/service-name", "service.k8s.aws/stack")


def referrers(state: State) -> list[str]:
    """What still points at the (missing) Service: Ingress backends, TargetGroupBindings, tagged target groups."""
    ns, name = state.target.namespace, state.target.service
    out = []
    for ing in state.ingresses:
        out.append(f"Ingress {ns}/{name_of(ing)} routes to Service {name}, which does not exist")
        for ev in state.k8s.of_kind("Event", ns):
            obj = as_dict(ev.get("involvedObject"))
            if obj.get("kind") == "Ingress" and obj.get("name") == name_of(ing) and ev.get("type") == "Warning":
                out.append(f"Event on Ingress {ns}/{name_of(ing)}: {ev.get('reason')} (x{ev.get('count') or 1}): {ev.get('message')}")
    for tgb in state.k8s.of_kind("TargetGroupBinding", ns):
        spec = as_dict(tgb.get("spec"))
        if as_dict(spec.get("serviceRef")).get("name") == name:
            out.append(
                f"TargetGroupBinding {ns}/{name_of(tgb)} registers Service {name} port "
                f"{as_dict(spec.get('serviceRef')).get('port')} in target group {spec.get('targetGroupARN')}"
            )
    for arn, tags in sorted(state.aws.tags.items()):
        for key in SERVICE_TAGS:
            if isinstance(tags, dict) and tags.get(key) == f"{ns}/{name}":
                out.append(f"{arn.split(':')[-1]} is tagged {key}={ns}/{name}")
    return out


def _close(name: str, candidates: list[str], n: int = 5) -> list[str]:
    close = difflib.get_close_matches(name, candidates, n=n, cutoff=0.6)
    # "web" vs "web-frontend", "shop-web": a name containing the other is a strong hint too.
    for c in sorted(candidates):
        if len(close) >= n:
            break
        if c not in close and len(name) >= 3 and (name in c or c in name):
            close.append(c)
    return close


@check(
    ID,
    title="The Service exists",
    seed="all",
    reads=(),
    uses=("k8s.service", "k8s.services", "k8s.ingresses", "k8s.events", "k8s.targetgroupbindings", "aws.elbv2"),
    severity=95,
)
def svc_exists(state: State) -> Finding:
    """The Service named in the command or alarm exists; if not, suggest close names here and elsewhere."""
    target = state.target
    svc = state.service
    if svc is not None:
        spec = as_dict(svc.get("spec"))
        ports = [p for p in as_list(spec.get("ports")) if isinstance(p, dict)]
        port_text = ", ".join(f"{p.get('port')}/{p.get('protocol') or 'TCP'}" for p in ports) or "no ports"
        return Finding(
            ID,
            Status.PASS,
            f"Service {target.ref} exists (type {spec.get('type') or 'ClusterIP'}, ports {port_text})",
            evidence=[
                f"Service {target.ref} spec.type = {spec.get('type') or 'ClusterIP'}",
                f"Service {target.ref} spec.selector = {fmt_selector(spec.get('selector'))}",
            ],
        )

    unmapped = state.options.get("unmapped_reason")
    if unmapped:  # an alarm whose load balancer maps to no Service: only the cloud side is diagnosed
        return Finding(ID, Status.SKIP, f"The alarm's load balancer maps to no Kubernetes Service: {unmapped}",
                       evidence=[f"mapping: {unmapped}"])

    reason = state.read_errors.get("k8s.service")
    if reason:
        return Finding(
            ID,
            Status.ERROR,
            f"Could not read Service {target.ref}: {reason}",
            evidence=[f"get Service {target.ref}: {reason}"],
            next_step=f"Grant the bot RBAC verb get on resource services in namespace {target.namespace}, "
            f"or check by hand: kubectl get svc {target.service} -n {target.namespace}",
        )
    services = state.k8s.of_kind("Service")
    if "k8s.service" not in state.reads_done and not services:
        return Finding(ID, Status.SKIP, f"The Service was not read: {state.why_not_read('k8s.service')}")

    same_ns = sorted({name_of(s) for s in services if ns_of(s) == target.namespace})
    others = [s for s in services if ns_of(s) != target.namespace]
    same_name_elsewhere = sorted({ns_of(s) for s in others if name_of(s) == target.service})
    close_here = _close(target.service, same_ns)
    close_elsewhere = [
        f"{ns_of(s)}/{name_of(s)}"
        for s in sorted(others, key=lambda s: (ns_of(s), name_of(s)))
        if name_of(s) != target.service and name_of(s) in _close(target.service, [name_of(s)])
    ][:5]

    evidence = [f"No Service named '{target.service}' in namespace {target.namespace}"]
    if same_ns:
        shown = ", ".join(same_ns[:15]) + (f" (+{len(same_ns) - 15} more)" if len(same_ns) > 15 else "")
        evidence.append(f"Services in namespace {target.namespace}: {shown}")
    else:
        evidence.append(f"No Service at all was found in namespace {target.namespace} (wrong namespace, or it does not exist)")
    if close_here:
        evidence.append(f"Close names in {target.namespace}: {', '.join(close_here)}")
    if same_name_elsewhere:
        evidence.append(f"A Service named '{target.service}' exists in namespace(s): {', '.join(same_name_elsewhere)}")
    if close_elsewhere:
        evidence.append(f"Close names in other namespaces: {', '.join(close_elsewhere)}")
    other_reason = state.why_not_read("k8s.services")
    if other_reason:
        evidence.append(f"Other namespaces were not searched: {other_reason}")

    pointing = referrers(state)
    if pointing:
        return _dangling(state, pointing, evidence[1:])
    # The exact name in another namespace (a wrong -n) first, then typos here, then elsewhere.
    suggestions = [f"{ns}/{target.service}" for ns in same_name_elsewhere] + [f"{target.namespace}/{c}" for c in close_here] + close_elsewhere
    if suggestions:
        summary = f"Service {target.ref} not found; did you mean {', '.join(suggestions[:3])}?"
        best = suggestions[0]
        next_step = f"Diagnose {best} instead if that is the Service meant; it exists: kubectl get svc {best.split('/')[1]} -n {best.split('/')[0]}"
    else:
        summary = f"Service {target.ref} not found, and no Service with a similar name exists"
        next_step = f"List Services to find the right name and namespace: kubectl get svc -A | grep -i {target.service[:12]}"
    return Finding(ID, Status.FAIL, summary, evidence=evidence, next_step=next_step)


def _dangling(state: State, pointing: list[str], context: list[str]) -> Finding:
    """The Service is gone (deleted, renamed, never applied) while a load balancer still sends to it."""
    target = state.target
    first = pointing[0].split(" routes to", 1)[0].split(" registers", 1)[0].split(" is tagged", 1)[0]
    ingresses = [name_of(i) for i in state.ingresses]
    if ingresses:
        next_step = (
            f"Re-create Service {target.ref} from its manifest, or point the Ingress at the Service that replaced it: "
            f"kubectl edit ingress {ingresses[0]} -n {target.namespace}  (spec.rules[].http.paths[].backend.service.name)"
        )
    else:
        next_step = f"Re-create Service {target.ref} from its manifest; compare: kubectl get svc -n {target.namespace}"
    return Finding(
        ID,
        Status.FAIL,
        f"Service {target.ref} does not exist, but {first} still sends traffic to it: the load balancer has no backend, so every health check fails",
        evidence=[f"No Service named '{target.service}' in namespace {target.namespace}", *pointing, *context],
        next_step=next_step,
        cause=DANGLING,
    )
