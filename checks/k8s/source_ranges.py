"""K8S-SOURCE-RANGES: a LoadBalancer Service without source ranges opens its NodePort to the world.

Why it matters (security, not health): without `spec.loadBalancerSourceRanges`, Kubernetes
admits 0.0.0.0/0 to the NodePort in the node security group. When the nodes have public IP
addresses, anyone on the internet reaches every node on that port, bypassing the load
balancer (seed 000, last section). It never makes a target unhealthy, so it supports no
failure mechanism; it is said once so that a fix under pressure does not leave it open.
"""

from __future__ import annotations

from checks.gating import unread
from checks.k8s._lbfacts import as_dict, as_list, name_of, spec_of
from checks.lbview import detect_cloud
from checks.model import Finding, Status
from checks.registry import check
from checks.state import State

ID = "K8S-SOURCE-RANGES"
ANN = "service.beta.kubernetes.io/load-balancer-source-ranges"
OPEN = {"0.0.0.0/0", "::/0"}


def _public_nodes(state: State) -> list[tuple[str, str]]:
    out = []
    for n in state.nodes:
        for a in as_list(as_dict(n.get("status")).get("addresses")):
            if isinstance(a, dict) and a.get("type") == "ExternalIP" and a.get("address"):
                out.append((name_of(n), str(a["address"])))
    return out


@check(
    ID,
    title="LoadBalancer Service restricts its NodePort sources on public nodes",
    seed="loadBalancerSourceRanges (000, last section)",
    reads=("k8s.service",),
    uses=("k8s.nodes",),
    severity=5,
)
def source_ranges(state: State) -> Finding:
    """NodePorts open to 0.0.0.0/0 on nodes with public IPs (security warning, not a health cause)."""
    spec = spec_of(state.service)
    if spec.get("type") != "LoadBalancer":
        return Finding(ID, Status.SKIP, f"Service {state.target.ref} is {spec.get('type') or 'ClusterIP'}, not LoadBalancer: source ranges do not apply")
    cloud = detect_cloud(state)
    if cloud == "tencent":
        return Finding(ID, Status.SKIP, "On TKE the node security group alone governs NodePort access (see TC-SG); Kubernetes does not open it")
    ranges = [str(r).strip() for r in as_list(spec.get("loadBalancerSourceRanges")) if str(r).strip()]
    source = "spec.loadBalancerSourceRanges"
    if not ranges:
        raw = state.service_annotations.get(ANN)
        if isinstance(raw, str) and raw.strip():
            ranges = [r.strip() for r in raw.split(",") if r.strip()]
            source = f"annotation {ANN}"
    if stand_in := unread(ID, state, ("k8s.nodes",)):  # needed only now: a LoadBalancer Service off TKE
        return stand_in
    public = _public_nodes(state)
    ports = ", ".join(str(p.get("nodePort")) for p in as_list(spec.get("ports")) if isinstance(p, dict) and p.get("nodePort")) or "its NodePort(s)"
    shown = ", ".join(f"{n} ({ip})" for n, ip in public[:5]) + (f" and {len(public) - 5} more" if len(public) > 5 else "")
    if ranges and not (set(ranges) & OPEN):
        return Finding(ID, Status.PASS, f"Service {state.target.ref} admits only {', '.join(ranges)} ({source})", evidence=[f"{source} = {', '.join(ranges)}"])
    if not public:
        return Finding(
            ID,
            Status.PASS,
            f"No node has a public IP, so NodePort {ports} of {state.target.ref} is not reachable from the internet",
            evidence=[f"{len(state.nodes)} node(s), none with an ExternalIP address", f"{source} = {', '.join(ranges) or 'not set (0.0.0.0/0)'}"],
        )
    patch = '{"spec":{"loadBalancerSourceRanges":["<client CIDR>"]}}'
    return Finding(
        ID,
        Status.WARN,
        f"Security: {state.target.ref} sets no source ranges and {len(public)} node(s) have public IPs, so NodePort {ports} is open to 0.0.0.0/0 "
        "on every node, bypassing the load balancer (not a health-check cause)",
        evidence=[
            f"Service {state.target.ref} {source} = {', '.join(ranges) or 'not set'}" + ("" if ranges else f"; annotation {ANN} not set"),
            f"nodes with ExternalIP: {shown}",
        ],
        next_step=f"kubectl -n {state.target.namespace} patch svc {state.target.service} --type merge -p '{patch}'  "
        "(list the CIDRs that must reach the load balancer; for an NLB with instance targets the node security group is then limited to them)",
    )
