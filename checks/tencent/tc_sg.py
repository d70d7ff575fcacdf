"""TC-SG: the backends' security groups admit the probe source and the clients on the backend port."""

from __future__ import annotations

import json
from typing import Any

from checks.model import Finding, FixPlan, ObjectRef, Status
from checks.registry import check
from checks.state import State
from checks.tencent._common import (
    NODEPORT_RANGE,
    PROBE_RANGE,
    BackendNet,
    Evaluation,
    as_list,
    backend_nets,
    direct_access,
    evaluate_rules,
    health_check_refs,
    probe_protocol,
    probe_sources,
    region_flag,
    sorted_policies,
    target_refs,
    tied_lbs,
)

ID = "TC-SG"


def _rules(state: State, sgs: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """Ingress rules of the SGs in binding order (each SG in PolicyIndex order), and SGs not read."""
    rules: list[dict[str, Any]] = []
    missing: list[str] = []
    for sg in sgs:
        policies = state.tencent.security_group_policies.get(sg)
        if not isinstance(policies, dict):
            missing.append(sg)
            continue
        for r in sorted_policies(policies.get("Ingress")):
            rules.append({**r, "PolicyIndex": f"{sg}#{r.get('PolicyIndex', '?')}"})
    return rules, missing


def _verdict(ev: Evaluation) -> str:
    if ev.action:
        return f"{ev.action} by rule {ev.rule.lstrip('#')}"
    return "no rule matches: denied by default"


def _fix(state: State, sg: str, vip: str, ports: list[int], protocol: str, lb_id: str) -> FixPlan:
    version = (state.tencent.security_group_policies.get(sg) or {}).get("Version")
    policy = {
        "PolicyIndex": 0,
        "Protocol": protocol,
        "Port": ",".join(str(p) for p in ports) if protocol in ("TCP", "UDP") else "ALL",
        "CidrBlock": vip,
        "Action": "ACCEPT",
        "PolicyDescription": f"lbhealth: CLB {lb_id} health checks",
    }
    policy_set: dict[str, Any] = {"Ingress": [policy]}
    if version is not None:
        policy_set["Version"] = str(version)
    body = json.dumps(policy_set, separators=(",", ":"))
    return FixPlan(
        id="FIX-SG-RULE",
        title=f"Admit the CLB VIP {vip} on {protocol} {policy['Port']} at the top of {sg}",
        patch={"SecurityGroupId": sg, "SecurityGroupPolicySet": policy_set},
        command=f"tccli vpc CreateSecurityGroupPolicies --SecurityGroupId {sg} --SecurityGroupPolicySet '{body}'{region_flag(state)}",
        target=ObjectRef(kind="SecurityGroup", name=sg, api_version="vpc/2017-03-12", resource_version=str(version) if version is not None else None),
        patch_type="cloud-api",
        tradeoff="PolicyIndex 0 puts the rule first, above any DROP; Version makes the API refuse if the group changed since the diagnosis",
    )


@check(
    ID,
    title="Backend security groups admit the CLB probe source and clients",
    seed="004 步骤2: 确认安全组放通健康探测源 IP; 4.4 检查安全组是否放通",
    reads=("tencent.vpc_network",),
    uses=("tencent.instances", "tencent.clb", "tencent.target_health"),
    fixes=("FIX-SG-RULE",),
    severity=75,
)
def tc_sg(state: State) -> list[Finding]:
    """A security group evaluates its rules in PolicyIndex order, first match wins, and drops
    what no rule matches. Probes from the CLB VIP (SourceIpType 0) must be admitted by the
    backend's groups (the node's CVM in NodePort mode, the pod's ENI for VPC-CNI direct access)
    on the backend port; probes from 100.64.0.0/10 need no rule. Clients reach layer-4 backends
    with their own addresses, so the groups must admit them too, and in NodePort mode the
    nodePort (30000-32768) rather than the Service port."""
    tied = tied_lbs(state)
    targets = target_refs(state, tied)
    if not targets:
        return [Finding(ID, Status.SKIP, "No backend registered on the CLB (see TC-TARGET-HEALTH)")]
    refs = health_check_refs(state)
    vips, vip_sourced, range_sourced = probe_sources(refs)
    protocol = probe_protocol(refs)
    nets = backend_nets(state, targets)
    node_mode = not direct_access(state)
    evidence: list[str] = []
    uncertain: list[str] = []
    denied: dict[str, list[tuple[BackendNet, str, Evaluation]]] = {}
    maybe: list[str] = []
    client_denied: list[str] = []
    groups_of: dict[str, str] = {}  # evidence line -> the first security group it is about (for the command)
    evaluated = 0
    pass_through = [t.lb_id for t in tied if t.lb.get("LoadBalancerPassToTarget") is True]
    if pass_through:
        evidence.append(f"CLB {', '.join(pass_through)} has LoadBalancerPassToTarget on: backends admit CLB traffic without security-group rules")
    if range_sourced:
        evidence.append(f"Probes from {PROBE_RANGE} need no security-group rule (CLB documentation)")
    l4 = [r for r in refs if not r.ref.l7]
    open_lbs = [t for t in tied if str(t.lb.get("LoadBalancerType") or "").upper() == "OPEN"]
    ranges = [str(x) for x in as_list(((state.service or {}).get("spec") or {}).get("loadBalancerSourceRanges")) if x]
    clients = ranges or (["0.0.0.0/0"] if open_lbs and l4 else [])

    for net in nets:
        if net.port is None:
            continue
        head = f"{net.subject} {net.ip}:{net.port} ({net.where})"
        if net.sgs is None:
            uncertain.append(f"{head}: security groups unknown")
            continue
        if not net.sgs:
            evidence.append(f"{head}: no security group bound, not filtered")
            continue
        if pass_through:
            continue
        rules, missing = _rules(state, net.sgs)
        if missing:
            uncertain.append(f"{head}: policies of {', '.join(missing)} not read")
            if len(missing) == len(net.sgs):
                continue
        evaluated += 1
        sg_text = ", ".join(net.sgs)
        if vip_sourced:
            for vip in vips:
                ev = evaluate_rules(rules, protocol=protocol, port=net.port, source=vip)
                line = f"{head}: {sg_text} vs probe from VIP {vip} {protocol}:{net.port}: {_verdict(ev)}"
                evidence.append(line)
                evidence.extend(f"  {n}" for n in ev.notes)
                if ev.action == "ACCEPT":
                    continue
                if ev.action is None and ev.notes:
                    maybe.append(line)
                    groups_of[line] = net.sgs[0]
                else:
                    denied.setdefault(net.sgs[0], []).append((net, vip, ev))
        for src in clients:
            ev = evaluate_rules(rules, protocol="TCP", port=net.port, source=src)
            line = f"{head}: {sg_text} vs clients {src} TCP:{net.port}: {_verdict(ev)}"
            evidence.append(line)
            if ev.action == "DROP" or (ev.action is None and not ev.notes):
                client_denied.append(line)
                groups_of[line] = net.sgs[0]
        if node_mode:
            lo, hi = NODEPORT_RANGE
            for src in ([f"{v}" for v in vips] if vip_sourced else []) + clients[:1]:
                ev = evaluate_rules(rules, protocol="TCP", port=lo, port_hi=hi, source=src)
                note = (
                    f"note: {sg_text} does not admit the whole NodePort range {lo}-{hi} from {src} "
                    f"(a re-created Service gets another nodePort)"
                )
                if ev.action != "ACCEPT" and note not in evidence:
                    evidence.append(note)
    for t in tied:
        sgs = [str(s) for s in as_list(t.lb.get("SecureGroups"))]
        if not sgs or not (open_lbs and t in open_lbs):
            continue
        rules, missing = _rules(state, sgs)
        for lst in {r.ref.port for r in refs if r.ref.tied is t and r.ref.port}:
            for src in clients:
                ev = evaluate_rules(rules, protocol="TCP", port=lst, source=src)
                line = f"CLB {t.lb_id} security groups {', '.join(sgs)} vs clients {src} TCP:{lst}: {_verdict(ev)}"
                evidence.append(line)
                if ev.action == "DROP" or (ev.action is None and not ev.notes and not missing):
                    client_denied.append(line)
                    groups_of[line] = sgs[0]

    findings: list[Finding] = []
    for sg, items in denied.items():
        ports = sorted({n.port for n, _, _ in items if n.port})
        vip = items[0][1]
        names = list(dict.fromkeys(n.subject.split(" (")[0].split(" on node")[0] for n, _, _ in items))
        subjects = ", ".join(names) if len(names) <= 3 else f"{len(names)} backends ({', '.join(names[:2])}, ...)"
        fix = _fix(state, sg, vip, ports, protocol, tied[0].lb_id)
        findings.append(
            Finding(
                ID,
                Status.FAIL,
                f"Security group {sg} of {subjects} drops health checks from the CLB VIP {vip} on {protocol} {','.join(map(str, ports))}",
                evidence=[line for line in evidence if sg in line or line.startswith(("CLB", "Probes"))] + uncertain,
                next_step=fix.command,
                fix=fix,
                cause="network-sg",
                supports=("probe-source",),
            )
        )
    if findings:
        return findings
    if maybe:
        return [
            Finding(
                ID,
                Status.WARN,
                "Backend security groups may drop the CLB's health checks: only rules that could not be evaluated could admit them",
                evidence=maybe + evidence + uncertain,
                next_step=f"tccli vpc DescribeSecurityGroupPolicies{region_flag(state)} --SecurityGroupId {groups_of[maybe[0]]}"
                "  # the peer-group / parameter-template rules decide",
                cause="network-sg",
            )
        ]
    if client_denied:
        return [
            Finding(
                ID,
                Status.WARN,
                "Security groups admit the health checks but no client address on the backend port: " + client_denied[0].split(": ")[0],
                evidence=client_denied + evidence + uncertain,
                next_step=f"tccli vpc DescribeSecurityGroupPolicies{region_flag(state)} --SecurityGroupId {groups_of[client_denied[0]]}"
                "  # admit the client ranges on the port",
                cause="network-sg",
            )
        ]
    if not evaluated and uncertain and not pass_through:
        return [Finding(ID, Status.SKIP, "Could not evaluate the backends' security groups: " + uncertain[0], evidence=uncertain)]
    if pass_through:
        summary = "CLB traffic bypasses the backends' security groups (LoadBalancerPassToTarget)"
    elif vip_sourced:
        summary = f"Backend security groups admit health checks from the CLB VIP {', '.join(vips)}"
    else:
        summary = f"Health checks come from {PROBE_RANGE}, which needs no security-group rule" + (
            "; clients are admitted" if clients else ""
        )
    return [Finding(ID, Status.PASS, summary, evidence=evidence + uncertain)]
