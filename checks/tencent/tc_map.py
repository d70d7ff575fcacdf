"""TC-MAP: find the CLB and listener in front of the Service, and say how."""

from __future__ import annotations

from checks.model import Finding, Status
from checks.providers.tencent.mapping import (
    EXISTED_LB_ANN,
    INGRESS_LB_ANNS,
    LB_ID_ANN,
    UUID_TAG,
    ingress_lb_ids,
    service_lb_ids,
    status_ips,
)
from checks.registry import check
from checks.state import State, meta
from checks.tencent._common import (
    as_int,
    as_list,
    known_lb_ids,
    region_flag,
    relevant_listeners,
    service_ports,
    tied_lbs,
)

ID = "TC-MAP"


@check(
    ID,
    title="The Service's CLB and listener are found",
    seed="004: CLB console, instance ID, listener management",
    reads=("tencent.clb",),
    uses=("k8s.service", "k8s.ingresses"),
    severity=60,
)
def tc_map(state: State) -> Finding:
    """Every other Tencent check reads the CLB, listener and targets of the Service. If the CLB
    cannot be found (annotation pointing at a deleted CLB, a Service stuck without an ingress
    IP, a CLB in another region), nothing else can be judged, and that itself is often the
    incident: the TKE service controller failed to create or bind the CLB."""
    svc = state.service
    if svc is None:
        return Finding(ID, Status.SKIP, f"Service {state.target.ref} was not found, so it has no CLB to look up")
    spec = svc.get("spec") or {}
    ingresses = state.ingresses
    ns, name = state.target.namespace, state.target.service
    tied = tied_lbs(state, fallback=False)
    region = state.tencent.region or "the configured region"

    if not tied:
        if spec.get("type") != "LoadBalancer" and not ingresses:
            return Finding(
                ID,
                Status.SKIP,
                f"Service {ns}/{name} is type {spec.get('type') or 'ClusterIP'} with no Ingress: no CLB in front of it",
            )
        tried: list[str] = []
        ann_ids = service_lb_ids(svc)
        for key in (LB_ID_ANN, EXISTED_LB_ANN):
            value = next((v for v, how in ann_ids if how.endswith(key)), None)
            tried.append(f"Service annotation {key}: {value or 'absent'}")
        ips = status_ips(svc)
        tried.append(f"Service status.loadBalancer.ingress: {', '.join(ips) if ips else 'empty (no CLB bound yet)'}")
        for ing in ingresses:
            m = meta(ing)
            ing_ids = ingress_lb_ids(ing)
            tried.append(
                f"Ingress {m.get('namespace')}/{m.get('name')}: "
                + (", ".join(f"{how}: {v}" for v, how in ing_ids) if ing_ids else f"no {' / '.join(INGRESS_LB_ANNS)} annotation")
                + f"; status IP {', '.join(status_ips(ing)) or 'none'}"
            )
        if not ann_ids and not ips and spec.get("type") == "LoadBalancer":
            tried.append(f"DescribeLoadBalancers by tag {UUID_TAG}={meta(svc).get('uid')}: no CLB")
        seen = [lb.get("LoadBalancerId") for lb in state.tencent.load_balancers if isinstance(lb, dict)]
        tried.append(f"CLBs read in {region}: {', '.join(str(s) for s in seen) if seen else 'none matched'}")
        named = [v for v, _ in ann_ids] + [v for ing in ingresses for v, _ in ingress_lb_ids(ing)]
        answered = [v for v in named if v in known_lb_ids(state)]
        if answered and not seen:
            # Its listeners, targets or health were read: it exists, only DescribeLoadBalancers is missing.
            return Finding(
                ID,
                Status.SKIP,
                f"CLB {', '.join(answered)} of {ns}/{name} was not described (its listeners or targets were read, "
                "the load balancer itself was not): its VIP, VPC and security groups are unknown",
                evidence=tried,
                next_step=f"tccli clb DescribeLoadBalancers{region_flag(state)} --LoadBalancerIds '{_json(answered)}'",
            )
        if named:
            summary = f"CLB {', '.join(named)} named by the annotations of {ns}/{name} does not exist in {region}"
            step = (
                f"tccli clb DescribeLoadBalancers{region_flag(state)} --LoadBalancerIds '{_json(named)}' "
                "(deleted CLB, or another region/account?); then `kubectl -n "
                f"{ns} describe service {name}` for the service controller's events"
            )
        elif ips:
            summary = f"No CLB in {region} has the VIP {', '.join(ips)} of Service {ns}/{name}"
            step = f"tccli clb DescribeLoadBalancers{region_flag(state)} --LoadBalancerVips '{_json(ips)}' (wrong region or account?)"
        else:
            summary = f"Service {ns}/{name} has no CLB yet: no loadbalance-id annotation and no ingress IP"
            step = f"kubectl -n {ns} describe service {name}  # the service controller's events say why the CLB was not created"
        return Finding(ID, Status.FAIL, summary, evidence=tried, next_step=step)

    evidence: list[str] = []
    problems: list[str] = []
    found_listeners = relevant_listeners(state, tied)
    for t in tied:
        lb = t.lb
        evidence.append(
            f"{t.label} type {lb.get('LoadBalancerType') or '?'} in {lb.get('VpcId') or '?'} <- {t.via} by "
            + "; ".join(t.reasons)
        )
        if t.via == "Service":
            vips = t.vips
            for ip in status_ips(svc):
                if vips and ip not in vips:
                    problems.append(f"Service ingress IP {ip} is not a VIP of {t.lb_id} ({', '.join(vips)}): the Service points at another CLB too")
            if state.tencent.listeners.get(t.lb_id) is None:
                evidence.append(f"{t.lb_id}: listeners not read")
                continue
            lst_by_port = {as_int(x.get("Port")): x for x in as_list(state.tencent.listeners.get(t.lb_id)) if isinstance(x, dict)}
            for p in service_ports(state):
                port = as_int(p.get("port"))
                lst = lst_by_port.get(port)
                pname = p.get("name") or port
                if lst is None:
                    problems.append(f"{t.lb_id} has no listener on port {port} for Service port {pname} ({p.get('protocol') or 'TCP'})")
                else:
                    evidence.append(
                        f"Service port {pname} {p.get('protocol') or 'TCP'}:{port} -> listener {lst.get('ListenerId')} "
                        f"{lst.get('Protocol')}:{lst.get('Port')}"
                    )
        else:
            refs = [r for r in found_listeners if r.tied is t]
            if not refs:
                problems.append(f"{t.lb_id} ({t.via}) has no listener")
            for r in refs:
                rules = ", ".join(f"{x.get('Domain') or ''}{x.get('Url') or ''}" for x in r.rules) or "no rule"
                evidence.append(f"{t.via} -> {r.label}: {rules}")
    first = tied[0]
    how = first.reasons[0] if first.reasons else "it was the only CLB read"
    listener_text = ", ".join(f"{r.label}" for r in found_listeners[:3]) or "no listener"
    if problems:
        return Finding(
            ID,
            Status.WARN,
            f"{first.label} of {ns}/{name} found ({how}) but: {problems[0]}",
            evidence=problems + evidence,
            next_step=f"kubectl -n {ns} describe service {name}  # the service controller's events say why the listener is missing; "
            f"tccli clb DescribeListeners{region_flag(state)} --LoadBalancerId {first.lb_id}",
        )
    return Finding(
        ID,
        Status.PASS,
        f"{ns}/{name} is behind {first.label}, {listener_text} (found by {how})",
        evidence=evidence,
        next_step=f"tccli clb DescribeListeners{region_flag(state)} --LoadBalancerId {first.lb_id}",
    )


def _json(values: list[str]) -> str:
    import json

    return json.dumps(values)
