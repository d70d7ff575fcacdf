"""K8S-NETWORKPOLICY: NetworkPolicies that select the pods admit the load balancer's traffic.

Why it matters: once any NetworkPolicy with policyType Ingress selects a pod, the pod only
accepts what some policy admits. Policies written for in-cluster callers (`podSelector`,
`namespaceSelector`) do not admit the load balancer, whose health checks come from outside
the cluster: its subnets / the VPC (AWS ip targets), 100.64.0.0/10 (Tencent CLB), or the node
IPs (instance targets, after kube-proxy's SNAT). Pods then look perfect and every target is
unhealthy with timeouts.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from typing import Any

from checks.k8s._podfacts import (
    as_dict,
    as_int,
    as_list,
    containers,
    declared_ports,
    fmt_selector,
    name_of,
    ref,
)
from checks.lbview import detect_cloud, health_checks, target_type
from checks.model import Finding, Status
from checks.providers.base import external_traffic_local
from checks.registry import check
from checks.state import State, label_selector_matches, meta

ID = "K8S-NETWORKPOLICY"
TENCENT_PROBE_SOURCE = "100.64.0.0/10"
Net = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Source:
    net: Net
    label: str
    assumed: bool = False  # a guess (no cloud network data): never fail on a guess alone


@dataclass(frozen=True)
class PodPort:
    number: int
    name: str  # container port name, "" if none
    protocol: str
    why: str  # "Service port 80 targetPort" / "health-check port"


def _net(text: Any) -> Net | None:
    try:
        return ipaddress.ip_network(str(text).strip(), strict=False)
    except ValueError:
        return None


def _subtract(nets: list[Net], hole: Net) -> list[Net]:
    out: list[Net] = []
    for n in nets:
        if n.version != hole.version or not n.overlaps(hole):
            out.append(n)
        elif hole.supernet_of(n):  # type: ignore[arg-type]
            continue
        else:  # n strictly contains hole
            out.extend(n.address_exclude(hole))  # type: ignore[arg-type]
    return out


def _node_ips(state: State) -> list[tuple[str, str]]:
    out = []
    for n in state.nodes:
        for a in as_list(as_dict(n.get("status")).get("addresses")):
            if isinstance(a, dict) and a.get("type") == "InternalIP" and a.get("address"):
                out.append((name_of(n), str(a["address"])))
    return out


def _aws_sources(state: State) -> tuple[list[Source], str]:
    """The load balancer's subnets if known, else the VPC CIDRs; (sources, how)."""
    subnets = {s.get("SubnetId"): s for s in state.aws.subnets if isinstance(s, dict)}
    lb_subnets = [
        az.get("SubnetId")
        for lb in state.aws.load_balancers
        for az in as_list(as_dict(lb).get("AvailabilityZones"))
        if isinstance(az, dict) and az.get("SubnetId")
    ]
    out = []
    for sid in lb_subnets:
        net = _net((subnets.get(sid) or {}).get("CidrBlock"))
        if net:
            out.append(Source(net, f"load balancer subnet {sid}"))
    if out:
        return out, "the load balancer's subnets (from DescribeLoadBalancers + DescribeSubnets)"
    for vpc in state.aws.vpcs:
        cidrs = {vpc.get("CidrBlock")} | {a.get("CidrBlock") for a in as_list(vpc.get("CidrBlockAssociationSet")) if isinstance(a, dict)}
        for c in sorted(x for x in cidrs if x):
            net = _net(c)
            if net:
                out.append(Source(net, f"VPC {vpc.get('VpcId')} CIDR"))
    if out:
        return out, "the VPC CIDR(s) (the load balancer lives in the VPC; its own subnets were not read)"
    return [], ""


def _tencent_probe_sources(state: State) -> tuple[list[Source], str]:
    """100.64.0.0/10, or the CLB VIPs for listeners whose HealthCheck.SourceIpType is 0."""
    vip_lbs: set[str] = set()
    range_used = not state.tencent.listeners  # unknown listeners: the documented default range
    for lb_id, listeners in state.tencent.listeners.items():
        for lst in as_list(listeners):
            lst = as_dict(lst)
            hcs = [as_dict(lst.get("HealthCheck"))] + [as_dict(as_dict(r).get("HealthCheck")) for r in as_list(lst.get("Rules"))]
            for hc in hcs:
                if not hc:
                    continue
                if as_int(hc.get("SourceIpType")) == 0:
                    vip_lbs.add(lb_id)
                else:
                    range_used = True
    out: list[Source] = []
    if range_used or not vip_lbs:
        out.append(Source(ipaddress.ip_network(TENCENT_PROBE_SOURCE), "Tencent CLB health-check source"))
    for lb in state.tencent.load_balancers:
        lb = as_dict(lb)
        if lb.get("LoadBalancerId") in vip_lbs:
            for vip in as_list(lb.get("LoadBalancerVips")):
                net = _net(vip)
                if net is not None:
                    out.append(Source(net, f"CLB {lb.get('LoadBalancerId')} VIP (listener SourceIpType 0)"))
    note = (
        "Tencent CLB health checks come from 100.64.0.0/10 (SourceIpType 1)"
        + (", and from the CLB VIP for listeners with SourceIpType 0" if vip_lbs else "; listeners with SourceIpType 0 use the CLB VIP instead")
    )
    return out, note


def _sources(state: State) -> tuple[list[Source], list[str]]:
    """Where the load balancer's packets come from, as the pod sees them."""
    cloud = detect_cloud(state)
    ttype = target_type(state)
    local = external_traffic_local(state)
    notes: list[str] = []
    nodes = [Source(n, f"node {name} InternalIP") for name, ip in _node_ips(state) if (n := _net(ip))]
    if cloud == "tencent":
        lb, how = _tencent_probe_sources(state)
        assumed = False
    else:
        lb, how = _aws_sources(state) if cloud == "aws" else ([], "")
        assumed = not lb
    if ttype == "instance" and not local:
        notes.append("instance targets with externalTrafficPolicy Cluster: after the NodePort, kube-proxy forwards to the pod "
                     "from the node IPs (SNAT)")
        return nodes, notes
    what = "ip targets: the load balancer connects to the pods directly" if ttype == "ip" else (
        "instance targets with externalTrafficPolicy Local: no SNAT, the pod sees the load balancer's (or the client's) address")
    if not assumed:
        notes.append(f"{what}, from {how}")
        return lb, notes
    notes.append(f"{what} from its own subnets; no VPC/subnet data was read, so the node addresses were used only to test "
                 "whether the policies admit anything from outside the cluster (they are not the load balancer's sources)")
    return [Source(s.net, s.label, assumed=True) for s in nodes], notes


def _vpc_cidr_step(state: State, allow: dict[str, Any]) -> str:
    """One command that admits the VPC's CIDR when the load balancer's own addresses were not read:
    it sends from its subnets inside the VPC, so the VPC CIDR covers it (node IPs would not)."""
    vpcs = sorted({as_dict(x).get("VpcId") for x in state.aws.target_groups + state.aws.load_balancers if as_dict(x).get("VpcId")})
    body = json.loads(json.dumps(allow))
    body["spec"]["ingress"][0]["from"] = [{"ipBlock": {"cidr": "$VPC_CIDR"}}]
    if vpcs:
        return (
            f"Admit the load balancer's VPC {vpcs[0]} (it sends from its own subnets there): "
            f"VPC_CIDR=$(aws ec2 describe-vpcs --vpc-ids {vpcs[0]} --query 'Vpcs[0].CidrBlock' --output text) && kubectl apply -f - <<EOF\n{json.dumps(body)}\nEOF"
        )
    return (
        "Admit the load balancer's VPC CIDR (it sends from its own subnets there; set VPC_CIDR from "
        f"`aws ec2 describe-vpcs`): kubectl apply -f - <<EOF\n{json.dumps(body)}\nEOF"
    )


def _pod_ports(state: State, pod: dict[str, Any]) -> list[PodPort]:
    spec = as_dict((state.service or {}).get("spec"))
    declared = [(num, pname, proto) for c in containers(pod) for num, pname, proto in declared_ports(c) if num is not None]
    out: list[PodPort] = []
    for sp in as_list(spec.get("ports")):
        if not isinstance(sp, dict):
            continue
        proto = str(sp.get("protocol") or "TCP").upper()
        tp = sp.get("targetPort") if sp.get("targetPort") not in (None, "") else sp.get("port")
        number = as_int(tp)
        if number is None:
            number = next((num for num, pname, pr in declared if pname == str(tp) and pr == proto), None)
        if number is None:
            continue
        name = next((pname for num, pname, pr in declared if num == number and pr == proto), "")
        out.append(PodPort(number, name, proto, f"Service port {sp.get('port')} targetPort {tp}"))
    if target_type(state) == "ip":
        for hc in health_checks(state):
            n = as_int(hc.port)
            if n is not None and not any(p.number == n for p in out):
                name = next((pname for num, pname, pr in declared if num == n and pr == "TCP"), "")
                out.append(PodPort(n, name, "TCP", f"health-check port ({hc.source})"))
    return list(dict.fromkeys(out))


def _ingress_types(policy: dict[str, Any]) -> bool:
    spec = as_dict(policy.get("spec"))
    types = spec.get("policyTypes")
    if not types:
        return True  # Ingress is always implied when policyTypes is absent
    return "Ingress" in types


def _port_matches(entries: Any, port: PodPort) -> bool:
    entries = as_list(entries)
    if not entries:
        return True
    for e in entries:
        if not isinstance(e, dict):
            continue
        if str(e.get("protocol") or "TCP").upper() != port.protocol:
            continue
        p = e.get("port")
        if p is None:
            return True
        n = as_int(p)
        if n is not None:
            end = as_int(e.get("endPort")) or n
            if n <= port.number <= end:
                return True
        elif port.name and str(p) == port.name:
            return True
    return False


def _describe_peer(peer: dict[str, Any]) -> str:
    parts = []
    ipb = as_dict(peer.get("ipBlock"))
    if ipb:
        parts.append(f"ipBlock {ipb.get('cidr')}" + (f" except {', '.join(str(x) for x in as_list(ipb.get('except')))}" if ipb.get("except") else ""))
    if "namespaceSelector" in peer:
        parts.append(f"namespaceSelector {json.dumps(peer.get('namespaceSelector'), sort_keys=True)}")
    if "podSelector" in peer:
        parts.append(f"podSelector {json.dumps(peer.get('podSelector'), sort_keys=True)}")
    return " + ".join(parts) or "{}"


def _describe_rule(i: int, rule: dict[str, Any]) -> str:
    peers = as_list(rule.get("from"))
    ports = as_list(rule.get("ports"))
    frm = "anywhere" if not peers else "; ".join(_describe_peer(as_dict(p)) for p in peers)
    prt = "all ports" if not ports else ", ".join(
        f"{as_dict(p).get('port', 'all')}" + (f"-{as_dict(p).get('endPort')}" if as_dict(p).get("endPort") else "") + f"/{as_dict(p).get('protocol') or 'TCP'}"
        for p in ports
    )
    return f"ingress[{i}] from {frm} on {prt}"


def _allowed(policies: list[dict[str, Any]], port: PodPort) -> tuple[bool, list[Net], bool]:
    """(admits everyone, admitted networks, some ipBlock rule exists for this port)."""
    nets: list[Net] = []
    has_ipblock = False
    for pol in policies:
        for rule in as_list(as_dict(pol.get("spec")).get("ingress")):
            rule = as_dict(rule)
            if not _port_matches(rule.get("ports"), port):
                continue
            peers = as_list(rule.get("from"))
            if not peers:
                return True, [], True
            for peer in peers:
                ipb = as_dict(as_dict(peer).get("ipBlock"))
                cidr = _net(ipb.get("cidr")) if ipb else None
                if cidr is None:
                    continue
                has_ipblock = True
                parts: list[Net] = [cidr]
                for ex in as_list(ipb.get("except")):
                    hole = _net(ex)
                    if hole is not None:
                        parts = _subtract(parts, hole)
                nets.extend(parts)
    return False, nets, has_ipblock


def _coverage(src: Net, admitted: list[Net]) -> str:
    remaining: list[Net] = [src]
    for a in admitted:
        remaining = _subtract(remaining, a)
        if not remaining:
            return "full"
    left = sum(r.num_addresses for r in remaining)
    return "none" if left == src.num_addresses else "partial"


@check(
    ID,
    title="NetworkPolicies admit the load balancer's traffic",
    seed="beyond",
    reads=("k8s.service", "k8s.networkpolicies", "k8s.pods"),
    uses=("k8s.nodes", "aws.elbv2", "aws.ec2_network"),
    severity=65,
)
def networkpolicy(state: State) -> Finding:
    """An Ingress NetworkPolicy that admits only in-cluster peers silently drops the load balancer's health checks."""
    ns, svc = state.target.namespace, state.target.service
    policies_all = state.k8s.of_kind("NetworkPolicy", ns)
    svc_type = as_dict((state.service or {}).get("spec")).get("type") or "ClusterIP"
    if svc_type not in ("LoadBalancer", "NodePort") and not state.ingresses:
        return Finding(ID, Status.SKIP, f"Service {state.target.ref} is {svc_type} with no Ingress: no load balancer sends to its pods")
    pods = sorted(state.selected_pods, key=ref)
    if not pods:
        return Finding(ID, Status.SKIP, f"No pod matches selector {fmt_selector(state.selector)}; no pod for a NetworkPolicy to isolate")

    def selects(pol: dict[str, Any], pod: dict[str, Any]) -> bool:
        sel = as_dict(pol.get("spec")).get("podSelector")
        return label_selector_matches(sel if isinstance(sel, dict) else {}, meta(pod).get("labels"))

    relevant = [p for p in policies_all if _ingress_types(p) and any(selects(p, pod) for pod in pods)]
    if not relevant:
        return Finding(
            ID,
            Status.PASS,
            f"No Ingress NetworkPolicy in {ns} selects the pods of {state.target.ref}: ingress to them is not restricted",
            evidence=[f"{len(policies_all)} NetworkPolicy object(s) in {ns}, none with policyType Ingress selecting {fmt_selector(state.selector)}"],
        )

    sources, notes = _sources(state)
    evidence = list(notes)
    for pol in relevant:
        spec = as_dict(pol.get("spec"))
        rules = [as_dict(r) for r in as_list(spec.get("ingress"))]
        evidence.append(
            f"NetworkPolicy {ref(pol)} podSelector {json.dumps(spec.get('podSelector') or {}, sort_keys=True)} "
            f"policyTypes {', '.join(str(t) for t in as_list(spec.get('policyTypes'))) or 'Ingress (implied)'}: " + ("; ".join(_describe_rule(i, r) for i, r in enumerate(rules)) if rules else "no ingress rule (denies all ingress)")
        )
    if not sources:
        evidence.append("No node addresses or cloud network data were read, so the load balancer's source addresses are unknown")
        return Finding(
            ID,
            Status.WARN,
            f"{len(relevant)} NetworkPolicy(ies) restrict ingress to the pods of {state.target.ref}, but the load balancer's source addresses are unknown",
            evidence=evidence,
            next_step=f"kubectl describe networkpolicy -n {ns}; make sure an ingress rule admits the load balancer subnets on the target port",
            supports=("network-policy",),
        )
    tried = "Outside addresses tried" if any(x.assumed for x in sources) else "Load balancer sources checked"
    evidence.append(f"{tried}: " + ", ".join(f"{s.net} ({s.label})" for s in sources[:8]) + (f" and {len(sources) - 8} more" if len(sources) > 8 else ""))

    blocked: list[tuple[dict[str, Any], PodPort, Source]] = []
    partial: list[tuple[dict[str, Any], PodPort, Source]] = []
    for pod in pods:
        pols = [p for p in relevant if selects(p, pod)]
        if not pols:
            continue
        if as_dict(pod.get("spec")).get("hostNetwork"):
            evidence.append(f"Pod {ref(pod)} uses hostNetwork: NetworkPolicies do not apply to it")
            continue
        ports = _pod_ports(state, pod)
        if not ports:
            evidence.append(f"Pod {ref(pod)}: the Service's targetPort could not be resolved to a number; ports not evaluated")
        for port in ports:
            everyone, nets, has_ipblock = _allowed(pols, port)
            if everyone:
                continue
            for src in sources:
                cov = _coverage(src.net, nets)
                if cov == "full":
                    continue
                # A guessed source that no ipBlock covers proves nothing, unless no ipBlock admits the port at all.
                if cov == "none" and (not src.assumed or not has_ipblock):
                    blocked.append((pod, port, src))
                else:
                    partial.append((pod, port, src))

    def line(item: tuple[dict[str, Any], PodPort, Source], what: str) -> str:
        pod, port, src = item
        pname = f" ({port.name})" if port.name else ""
        return f"Pod {ref(pod)} port {port.number}/{port.protocol}{pname} [{port.why}]: {what} {src.net} ({src.label})"

    guessed = any(src.assumed for _p, _port, src in blocked + partial)
    if guessed:  # node IPs only stood in for unknown load balancer addresses: never name them as its sources
        evidence.extend(dict.fromkeys(f"Pod {ref(p)} port {port.number}/{port.protocol}: no rule admits addresses from outside the cluster" for p, port, _s in blocked[:12]))
    else:
        evidence.extend(line(b, "NOT admitted from") for b in blocked[:12])
        evidence.extend(line(p, "only partly admitted from") for p in partial[:8])
    if blocked or partial:
        evidence.append("NetworkPolicies are enforced only when the CNI enforces them (Calico, Cilium, VPC CNI with network policy enabled, ...)")

    if not blocked and not partial:
        return Finding(
            ID,
            Status.PASS,
            f"The {len(relevant)} NetworkPolicy(ies) selecting the pods of {state.target.ref} admit the load balancer's sources on the target port(s)",
            evidence=evidence,
        )

    items = blocked or partial
    cidrs = sorted({str(s.net) for _p, _port, s in items}, key=lambda c: (ipaddress.ip_network(c).version, c))
    port_entries = sorted({(port.number, port.protocol) for _p, port, _s in items})
    allow = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": f"allow-lb-to-{svc}"[:63], "namespace": ns},
        "spec": {
            "podSelector": {"matchLabels": dict(state.selector)},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"ipBlock": {"cidr": c}} for c in cidrs], "ports": [{"protocol": pr, "port": n} for n, pr in port_entries]}],
        },
    }
    if guessed:
        next_step = _vpc_cidr_step(state, allow)
    else:
        next_step = f"Admit the load balancer (review the CIDRs first): kubectl apply -f - <<'EOF'\n{json.dumps(allow)}\nEOF"
    pol_names = ", ".join(name_of(p) for p in relevant[:3])
    ports_text = ", ".join(f"{n}/{pr}" for n, pr in port_entries)
    if blocked and guessed:
        return Finding(
            ID,
            Status.FAIL,
            f"NetworkPolicy {pol_names} blocks the load balancer: pods of {state.target.ref} admit no address from outside the cluster on {ports_text}, "
            "and the load balancer connects from its own subnets",
            evidence=evidence,
            next_step=next_step,
            cause="network-policy",
        )
    if blocked:
        return Finding(
            ID,
            Status.FAIL,
            f"NetworkPolicy {pol_names} blocks the load balancer: pods of {state.target.ref} do not admit {', '.join(cidrs[:3])} on {ports_text}",
            evidence=evidence,
            next_step=next_step,
            cause="network-policy",
        )
    return Finding(
        ID,
        Status.WARN,
        f"NetworkPolicy {pol_names} may not admit all load balancer sources ({', '.join(cidrs[:3])}) on {ports_text} of {state.target.ref}",
        evidence=evidence,
        next_step=next_step,
        cause="network-policy",
    )
