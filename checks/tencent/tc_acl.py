"""TC-ACL: the backends' subnet network ACL admits the probe source, inbound and outbound."""

from __future__ import annotations

import json
from typing import Any

from checks.model import Finding, Status
from checks.registry import check
from checks.state import State
from checks.tencent._common import (
    PROBE_RANGE,
    as_dict,
    as_list,
    backend_nets,
    evaluate_rules,
    health_check_refs,
    probe_protocol,
    probe_sources,
    region_flag,
    sorted_policies,
    target_refs,
    tied_lbs,
)

ID = "TC-ACL"
EPHEMERAL = (1024, 65535)


def _acl_for(state: State, subnet: str) -> dict[str, Any] | None:
    for acl in state.tencent.network_acls:
        if not isinstance(acl, dict):
            continue
        if any(as_dict(s).get("SubnetId") == subnet for s in as_list(acl.get("SubnetSet"))):
            return acl
    acl_id = next((s.get("NetworkAclId") for s in state.tencent.subnets if isinstance(s, dict) and s.get("SubnetId") == subnet), None)
    if acl_id:
        return next((a for a in state.tencent.network_acls if isinstance(a, dict) and a.get("NetworkAclId") == acl_id), {"NetworkAclId": acl_id})
    return None


def _verdict(action: str | None, rule: str) -> str:
    return f"{action} by entry {rule.lstrip('#')}" if action else "no entry matches: denied by the default entry"


@check(
    ID,
    title="Subnet network ACL admits the CLB probe source both ways",
    seed="004 步骤3: 确认子网的网络 ACL 放通健康探测源 IP",
    reads=("tencent.vpc_network",),
    uses=("tencent.instances", "tencent.clb", "tencent.target_health"),
    severity=65,
)
def tc_acl(state: State) -> list[Finding]:
    """A network ACL filters a whole subnet and is stateless: the probe must be admitted
    inbound (source = the VIP or 100.64.0.0/10, destination port = the backend port) and the
    reply outbound (destination = the same source, its ephemeral port). Unlike security groups,
    ACLs must admit 100.64.0.0/10 explicitly. Entries are evaluated in order, first match wins,
    and the default entries at the bottom deny everything."""
    tied = tied_lbs(state)
    targets = target_refs(state, tied)
    if not targets:
        return [Finding(ID, Status.SKIP, "No backend registered on the CLB (see TC-TARGET-HEALTH)")]
    refs = health_check_refs(state)
    vips, vip_sourced, range_sourced = probe_sources(refs)
    sources = (vips if vip_sourced else []) + ([PROBE_RANGE] if range_sourced else [])
    if not sources:
        return [Finding(ID, Status.SKIP, "No switched-on health check, so no probe source to check the ACL against")]
    protocol = probe_protocol(refs)
    nets = backend_nets(state, targets)
    by_subnet: dict[str, list[int]] = {}
    unknown: list[str] = []
    for n in nets:
        if n.subnet:
            ports = by_subnet.setdefault(n.subnet, [])
            if n.port and n.port not in ports:
                ports.append(n.port)
        else:
            unknown.append(f"{n.subject} {n.ip}: subnet unknown ({n.where})")
    if not by_subnet:
        return [Finding(ID, Status.SKIP, "Could not tell the backends' subnets (no CVM/ENI read for them)", evidence=unknown)]
    evidence: list[str] = []
    problems: list[tuple[str, str, str, str]] = []  # (acl, direction, source, line)
    not_evaluated: list[str] = []
    acl_ids: list[str] = []
    for subnet, ports in by_subnet.items():
        acl = _acl_for(state, subnet)
        if acl is None:
            evidence.append(f"subnet {subnet}: no network ACL bound, not filtered")
            continue
        acl_id = acl.get("NetworkAclId")
        if acl_id and acl_id not in acl_ids:
            acl_ids.append(str(acl_id))
        kind = str(acl.get("NetworkAclType") or "TRIPLE").upper()
        if kind == "QUINTUPLE":
            not_evaluated.append(f"subnet {subnet}: ACL {acl_id} is a QUINTUPLE ACL; its entries were not evaluated")
            continue
        if "IngressEntries" not in acl:
            not_evaluated.append(f"subnet {subnet}: ACL {acl_id} was not read")
            continue
        ingress = sorted_policies(acl.get("IngressEntries"), "Priority")
        egress = sorted_policies(acl.get("EgressEntries"), "Priority")
        for src in sources:
            for port in ports:
                ev = evaluate_rules(ingress, protocol=protocol, port=port, source=src)
                line = f"subnet {subnet} ACL {acl_id} inbound from {src} {protocol}:{port}: {_verdict(ev.action, ev.rule)}"
                evidence.append(line)
                evidence.extend(f"  {n}" for n in ev.notes)
                if ev.action != "ACCEPT":
                    problems.append((str(acl_id), "Ingress", src, line))
            lo, hi = EPHEMERAL
            ev = evaluate_rules(egress, protocol=protocol, port=lo, port_hi=hi, source=src)
            line = f"subnet {subnet} ACL {acl_id} outbound replies to {src} {protocol}:{lo}-{hi}: {_verdict(ev.action, ev.rule)}"
            evidence.append(line)
            evidence.extend(f"  {n}" for n in ev.notes)
            if ev.action != "ACCEPT":
                problems.append((str(acl_id), "Egress", src, line))
    if problems:
        acl_id, direction, src, line = problems[0]
        entry = {"Protocol": protocol, "Port": "ALL", "CidrBlock": src, "Action": "ACCEPT", "Description": "CLB health check"}
        body = json.dumps({direction: [entry]}, separators=(",", ":"))
        way = "inbound probes from" if direction == "Ingress" else "outbound replies to"
        return [
            Finding(
                ID,
                Status.FAIL,
                f"Network ACL {acl_id} of the backends' subnet drops {way} {src}",
                evidence=[p[3] for p in problems] + [e for e in evidence if e not in {p[3] for p in problems}] + not_evaluated + unknown,
                next_step=f"tccli vpc CreateNetworkAclEntries{region_flag(state)} --NetworkAclId {acl_id} --NetworkAclEntrySet '{body}'"
                "  # entries are appended: if a DROP entry above matches first, move the new entry above it in the console",
                cause="network-acl",
                supports=("probe-source",),
            )
        ]
    if not_evaluated and not any("ACL" in e and ("inbound" in e) for e in evidence):
        return [Finding(ID, Status.SKIP, not_evaluated[0], evidence=not_evaluated + evidence + unknown)]
    return [
        Finding(
            ID,
            Status.PASS,
            f"The backends' subnet ACLs admit health checks from {', '.join(sources)} both ways",
            evidence=evidence + not_evaluated + unknown,
            next_step=f"tccli vpc DescribeNetworkAcls{region_flag(state)} --NetworkAclIds '{json.dumps(acl_ids)}'" if acl_ids else "",
        )
    ]
