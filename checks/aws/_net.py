"""VPC network evaluation for the AWS checks: security groups, network ACLs, route tables.

The rules are evaluated the way the VPC does:
- security groups are allow-lists; the groups of one network interface are a union;
- network ACL entries are evaluated in RuleNumber order per direction and the first match
  wins (the `*` entry, RuleNumber 32767, denies the rest);
- a route table sends a packet by the longest matching prefix; the `local` route keeps
  traffic inside the VPC.

Sources are ranges (a load balancer subnet), so an answer can be "partly": some addresses of
the range match one rule and others another. That is reported, not rounded to allow or deny.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from checks.aws._common import (
    DRAINING_STATES,
    describe_target,
    descriptions,
    health_check_port,
    target_id,
    target_port,
    th_state,
)
from checks.providers.aws.mapping import instance_id_of_node, lb_for_target_group, service_target_groups
from checks.state import State, meta
from checks.values import as_int

ALLOW, DENY, PARTIAL, UNKNOWN = "allow", "deny", "partial", "unknown"
EPHEMERAL = (1024, 65535)


def net(cidr: str | None) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(str(cidr), strict=False)
    except ValueError:
        return None


def covers(outer: str | None, inner: str | None) -> bool:
    a, b = net(outer), net(inner)
    return bool(a and b and a.version == b.version and b.subnet_of(a))


def overlaps(a: str | None, b: str | None) -> bool:
    x, y = net(a), net(b)
    return bool(x and y and x.version == y.version and x.overlaps(y))


# ---- topology lookups ---------------------------------------------------------------------


def instance_by_id(state: State, instance_id: str | None) -> dict[str, Any] | None:
    return (
        next((i for i in state.aws.instances if i.get("InstanceId") == instance_id), None)
        if instance_id
        else None
    )


def subnet_by_id(state: State, subnet_id: str | None) -> dict[str, Any] | None:
    return next((s for s in state.aws.subnets if s.get("SubnetId") == subnet_id), None) if subnet_id else None


def sg_by_id(state: State, group_id: str) -> dict[str, Any] | None:
    return next((g for g in state.aws.security_groups if g.get("GroupId") == group_id), None)


def vpc_by_id(state: State, vpc_id: str | None) -> dict[str, Any] | None:
    return next((v for v in state.aws.vpcs if v.get("VpcId") == vpc_id), None) if vpc_id else None


def vpc_cidrs(state: State, vpc_id: str | None) -> list[str]:
    vpc = vpc_by_id(state, vpc_id)
    if not vpc:
        return []
    cidrs = [
        a.get("CidrBlock")
        for a in vpc.get("CidrBlockAssociationSet") or []
        if (a.get("CidrBlockState") or {}).get("State", "associated") == "associated"
    ]
    if vpc.get("CidrBlock") and vpc["CidrBlock"] not in cidrs:
        cidrs.insert(0, vpc["CidrBlock"])
    return [c for c in cidrs if c]


def primary_groups(instance: dict[str, Any]) -> list[str]:
    """Security groups of the instance's primary network interface (what NodePort traffic meets)."""
    for eni in instance.get("NetworkInterfaces") or []:
        if as_int((eni.get("Attachment") or {}).get("DeviceIndex")) == 0:
            return [g.get("GroupId") for g in eni.get("Groups") or [] if g.get("GroupId")]
    return [g.get("GroupId") for g in instance.get("SecurityGroups") or [] if g.get("GroupId")]


@dataclass
class Endpoint:
    """Where a target's packets land: address, subnet, security groups, and what it is."""

    address: str
    subnet_id: str
    groups: list[str]
    label: str  # "instance i-0abc (node ip-10-0-1-1)" / "ENI eni-1 of i-0abc (pod shop/web-1)"
    vpc_id: str = ""


def endpoint_for_instance(state: State, instance_id: str) -> Endpoint | None:
    inst = instance_by_id(state, instance_id)
    if not inst:
        return None
    node = state.node_by_address(instance_id)
    label = f"instance {instance_id}" + (f" (node {meta(node).get('name')})" if node else "")
    return Endpoint(
        address=inst.get("PrivateIpAddress") or "",
        subnet_id=inst.get("SubnetId") or "",
        groups=primary_groups(inst),
        label=label,
        vpc_id=inst.get("VpcId") or "",
    )


def endpoint_for_ip(state: State, ip: str) -> Endpoint | None:
    """The ENI holding a pod IP (VPC CNI secondary IP), else the pod's node's primary ENI."""
    pod = state.pod_by_ip(ip)
    who = f" (pod {meta(pod).get('namespace')}/{meta(pod).get('name')})" if pod else ""
    for inst in state.aws.instances:
        for eni in inst.get("NetworkInterfaces") or []:
            addrs = {a.get("PrivateIpAddress") for a in eni.get("PrivateIpAddresses") or []} | {
                eni.get("PrivateIpAddress")
            }
            if ip in addrs:
                return Endpoint(
                    address=ip,
                    subnet_id=eni.get("SubnetId") or inst.get("SubnetId") or "",
                    groups=[g.get("GroupId") for g in eni.get("Groups") or [] if g.get("GroupId")],
                    label=f"ENI {eni.get('NetworkInterfaceId')} of {inst.get('InstanceId')}{who}",
                    vpc_id=eni.get("VpcId") or inst.get("VpcId") or "",
                )
    if pod:
        node = state.node((pod.get("spec") or {}).get("nodeName"))
        inst = instance_by_id(state, instance_id_of_node(node))
        if inst:
            return Endpoint(
                address=ip,
                subnet_id=inst.get("SubnetId") or "",
                groups=primary_groups(inst),
                label=f"instance {inst.get('InstanceId')} hosting{who}",
                vpc_id=inst.get("VpcId") or "",
            )
    return None


def endpoint_for_target(state: State, target_id: str) -> Endpoint | None:
    return (
        endpoint_for_instance(state, target_id)
        if target_id.startswith("i-")
        else endpoint_for_ip(state, target_id)
    )


def lb_subnets(state: State, lb: dict[str, Any]) -> list[dict[str, Any]]:
    """The load balancer's subnets as described (or stubs with only the ID when not described)."""
    out = []
    for az in lb.get("AvailabilityZones") or []:
        sid = az.get("SubnetId")
        if sid:
            out.append(subnet_by_id(state, sid) or {"SubnetId": sid})
    return out


# ---- security groups ----------------------------------------------------------------------


def _proto_ok(perm: dict[str, Any], proto: str) -> bool:
    p = str(perm.get("IpProtocol", "")).lower()
    return p in ("-1", "all") or p == proto or (proto == "tcp" and p == "6")


def _port_ok(perm: dict[str, Any], port: int) -> bool:
    if str(perm.get("IpProtocol", "")) in ("-1", "all"):
        return True
    lo, hi = as_int(perm.get("FromPort")), as_int(perm.get("ToPort"))
    if lo is None or hi is None or lo == -1:
        return True
    return lo <= port <= hi


def rule_text(group_id: str, perm: dict[str, Any], source: str) -> str:
    proto = str(perm.get("IpProtocol"))
    ports = "all ports" if proto in ("-1", "all") else f"{proto} {perm.get('FromPort')}-{perm.get('ToPort')}"
    return f"{group_id} inbound {ports} from {source}"


def sg_admits(
    state: State,
    groups: Iterable[str],
    port: int,
    *,
    source_groups: Iterable[str] = (),
    source_cidrs: Iterable[str] = (),
    proto: str = "tcp",
) -> tuple[str, str]:
    """Do these security groups (a union) admit `proto/port` from the sources?

    A source is admitted by a rule naming one of `source_groups`, or by CIDR rules that
    together cover every `source_cidrs` range. Returns (verdict, the rule or the reason).
    """
    src_groups = set(source_groups)
    src_cidrs = [c for c in source_cidrs if net(c)]
    missing = [g for g in groups if not sg_by_id(state, g)]
    rule_nets = []
    first_cidr_rule = ""
    prefix_rule = ""
    for gid in groups:
        sg = sg_by_id(state, gid)
        for perm in (sg or {}).get("IpPermissions") or []:
            if not (_proto_ok(perm, proto) and _port_ok(perm, port)):
                continue
            for pair in perm.get("UserIdGroupPairs") or []:
                if pair.get("GroupId") in src_groups:
                    return ALLOW, rule_text(gid, perm, pair["GroupId"])
            for r in perm.get("IpRanges") or []:
                n = net(r.get("CidrIp"))
                if n:
                    rule_nets.append(n)
                    first_cidr_rule = first_cidr_rule or rule_text(gid, perm, r.get("CidrIp"))
            for r in perm.get("Ipv6Ranges") or []:
                n = net(r.get("CidrIpv6"))
                if n:
                    rule_nets.append(n)
            if perm.get("PrefixListIds"):
                prefix_rule = rule_text(
                    gid, perm, ",".join(p.get("PrefixListId", "?") for p in perm["PrefixListIds"])
                )
    if src_cidrs:
        v4 = list(ipaddress.collapse_addresses([n for n in rule_nets if n.version == 4]))
        v6 = list(ipaddress.collapse_addresses([n for n in rule_nets if n.version == 6]))
        covered = []
        for c in src_cidrs:
            n = net(c)
            pool = v4 if n.version == 4 else v6
            covered.append(any(n.subnet_of(r) for r in pool))
        if all(covered):
            return ALLOW, first_cidr_rule or "CIDR rules cover the source"
        if any(covered) or any(
            net(c).overlaps(r) for c in src_cidrs for r in rule_nets if net(c).version == r.version
        ):
            return PARTIAL, "CIDR rules cover only part of " + ", ".join(src_cidrs)
    if prefix_rule:
        return UNKNOWN, f"{prefix_rule} (managed prefix list, not resolved)"
    if missing:
        return UNKNOWN, "security group(s) not read: " + ", ".join(missing)
    if not src_groups and not src_cidrs:
        return UNKNOWN, "the load balancer's sources are not known"
    return DENY, ""


# ---- network ACLs -------------------------------------------------------------------------


def nacl_for_subnet(state: State, subnet_id: str, vpc_id: str | None = None) -> dict[str, Any] | None:
    for acl in state.aws.network_acls:
        if any(a.get("SubnetId") == subnet_id for a in acl.get("Associations") or []):
            return acl
    vpc_id = vpc_id or (subnet_by_id(state, subnet_id) or {}).get("VpcId")
    return next(
        (
            a
            for a in state.aws.network_acls
            if a.get("IsDefault") and (not vpc_id or a.get("VpcId") == vpc_id)
        ),
        None,
    )


def _entry_cidr(entry: dict[str, Any]) -> str | None:
    return entry.get("CidrBlock") or entry.get("Ipv6CidrBlock")


def _entry_ports(entry: dict[str, Any]) -> tuple[int, int]:
    proto = str(entry.get("Protocol", "-1"))
    pr = entry.get("PortRange") or {}
    if proto == "-1" or not pr:
        return 0, 65535
    return as_int(pr.get("From")) or 0, as_int(pr.get("To")) or 65535


def entry_text(entry: dict[str, Any]) -> str:
    lo, hi = _entry_ports(entry)
    proto = {"-1": "all", "6": "tcp", "17": "udp"}.get(str(entry.get("Protocol")), str(entry.get("Protocol")))
    ports = "all ports" if proto == "all" else f"{proto} {lo}-{hi}"
    rule = entry.get("RuleNumber")
    return f"rule {'*' if rule == 32767 else rule} {'egress' if entry.get('Egress') else 'ingress'} {ports} {_entry_cidr(entry)} {str(entry.get('RuleAction')).upper()}"


def nacl_verdict(
    acl: dict[str, Any], *, egress: bool, cidr: str, ports: tuple[int, int], proto: str = "6"
) -> tuple[str, str]:
    """First-match evaluation of one direction of a NACL for a (range of addresses) x (range of ports).

    `cidr` is the remote side: the source for ingress entries, the destination for egress.
    """
    target = net(cidr)
    if target is None:
        return UNKNOWN, f"not an address range: {cidr}"
    entries = sorted(
        (e for e in acl.get("Entries") or [] if bool(e.get("Egress")) == egress),
        key=lambda e: as_int(e.get("RuleNumber")) or 0,
    )
    partly_allowed = ""
    for e in entries:
        p = str(e.get("Protocol", "-1"))
        if p not in ("-1", proto):
            continue
        en = net(_entry_cidr(e))
        if en is None or en.version != target.version or not en.overlaps(target):
            continue
        lo, hi = _entry_ports(e)
        if hi < ports[0] or lo > ports[1]:
            continue
        full = target.subnet_of(en) and lo <= ports[0] and hi >= ports[1]
        action = str(e.get("RuleAction", "")).lower()
        if full:
            if action == "allow":
                return ALLOW, entry_text(e)
            return (
                (PARTIAL, f"{partly_allowed}; then {entry_text(e)}")
                if partly_allowed
                else (DENY, entry_text(e))
            )
        if action == "deny":
            return PARTIAL, f"{entry_text(e)} denies part of it"
        partly_allowed = partly_allowed or f"{entry_text(e)} allows only part of it"
    return (PARTIAL, partly_allowed) if partly_allowed else (DENY, "no rule matches (implicit deny)")


# ---- route tables -------------------------------------------------------------------------


def route_table_for_subnet(
    state: State, subnet_id: str, vpc_id: str | None = None
) -> tuple[dict[str, Any] | None, bool]:
    """(table, explicit): the subnet's explicitly associated table, else the VPC's main table."""
    for rt in state.aws.route_tables:
        if any(a.get("SubnetId") == subnet_id for a in rt.get("Associations") or []):
            return rt, True
    vpc_id = vpc_id or (subnet_by_id(state, subnet_id) or {}).get("VpcId")
    for rt in state.aws.route_tables:
        if any(a.get("Main") for a in rt.get("Associations") or []) and (
            not vpc_id or rt.get("VpcId") == vpc_id
        ):
            return rt, False
    return None, False


def route_target(route: dict[str, Any]) -> str:
    for key in (
        "GatewayId",
        "NatGatewayId",
        "TransitGatewayId",
        "VpcPeeringConnectionId",
        "NetworkInterfaceId",
        "InstanceId",
        "LocalGatewayId",
        "CarrierGatewayId",
        "CoreNetworkArn",
        "EgressOnlyInternetGatewayId",
    ):
        if route.get(key):
            return str(route[key])
    return "?"


def route_text(route: dict[str, Any]) -> str:
    dest = (
        route.get("DestinationCidrBlock")
        or route.get("DestinationIpv6CidrBlock")
        or route.get("DestinationPrefixListId")
    )
    return f"{dest} -> {route_target(route)} ({route.get('State', 'active')})"


def best_route(table: dict[str, Any], address: str) -> dict[str, Any] | None:
    """Longest-prefix match for an address or range (prefix-list routes are not resolved)."""
    target = net(address)
    if target is None:
        return None
    best, best_len = None, -1
    for r in table.get("Routes") or []:
        n = net(r.get("DestinationCidrBlock") or r.get("DestinationIpv6CidrBlock"))
        if n is None or n.version != target.version or not target.subnet_of(n):
            continue
        if n.prefixlen > best_len:
            best, best_len = r, n.prefixlen
    return best


# ---- the paths health checks take: load balancer subnets -> target ENI ------------------------


@dataclass
class TargetPath:
    """One registered target, where it lives, and the ports the load balancer sends to."""

    tg: dict[str, Any]
    lb: dict[str, Any] | None
    target: str  # "10.0.1.5:8080 = pod shop/web-1 (...)"
    endpoint: Endpoint | None
    ports: list[int]
    healthy: bool


def target_paths(state: State) -> list[TargetPath]:
    out = []
    for tg, _how in service_target_groups(state):
        lb = lb_for_target_group(state, tg)
        for d in descriptions(state, tg):
            if th_state(d) in DRAINING_STATES or th_state(d) == "unused":
                continue
            ports = []
            for p in (target_port(d, tg), health_check_port(d, tg)):
                if p and p not in ports:
                    ports.append(p)
            out.append(
                TargetPath(
                    tg=tg,
                    lb=lb,
                    target=describe_target(state, tg, d),
                    endpoint=endpoint_for_target(state, target_id(d)),
                    ports=ports,
                    healthy=th_state(d) == "healthy",
                )
            )
    return out


def lb_sources(state: State, lb: dict[str, Any] | None) -> tuple[list[str], list[str], list[str]]:
    """(security groups, subnet CIDRs, subnet IDs whose CIDR is unknown) the LB sends from."""
    if not lb:
        return [], [], []
    groups = list(lb.get("SecurityGroups") or [])
    cidrs, unknown = [], []
    for s in lb_subnets(state, lb):
        if s.get("CidrBlock"):
            cidrs.append(s["CidrBlock"])
        else:
            unknown.append(s.get("SubnetId", "?"))
    return groups, cidrs, unknown
