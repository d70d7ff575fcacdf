"""AWS-SG: the targets' security groups admit the load balancer; node groups admit each other."""

from __future__ import annotations

import json
from typing import Any

from checks.aws._common import (
    lb_label,
    no_target_groups,
    pod_ports,
    region,
    region_flag,
)
from checks.aws._net import (
    ALLOW,
    DENY,
    instance_by_id,
    lb_sources,
    primary_groups,
    sg_admits,
    sg_by_id,
    target_paths,
    vpc_cidrs,
)
from checks.model import Finding, FixPlan, ObjectRef, Status
from checks.providers.aws.mapping import instance_id_of_node, service_target_groups
from checks.providers.base import external_traffic_local
from checks.registry import check
from checks.state import State, meta

CHECK = "AWS-SG"


@check(
    CHECK,
    title="Security groups admit the load balancer (and node groups admit each other)",
    seed="Check the cluster security groups; multiple node groups can communicate freely",
    reads=("aws.elbv2", "aws.ec2_network", "aws.instances"),
    uses=("aws.target_health", "k8s.pods", "k8s.nodes", "k8s.service"),
    fixes=("FIX-SG-RULE",),
    severity=75,
)
def security_groups(state: State) -> list[Finding]:
    """A security group that does not admit the load balancer drops its health checks
    silently: the load balancer sees `Target.Timeout` (ALB) or `Target.FailedHealthChecks`
    (NLB) and nothing in Kubernetes looks wrong. The targets' groups must admit the load
    balancer's own groups (ALB, NLB with groups) or its subnets (NLB without groups) on the
    traffic port and the health-check port. With instance targets and the Cluster traffic
    policy, kube-proxy forwards between nodes, so node groups must admit each other too.
    """
    skip = no_target_groups(state, CHECK)
    if skip:
        return [skip]
    findings: list[Finding] = []
    ok_lines: list[str] = []
    # (groups, lb arn) -> {"ports": set, "targets": [...], "verdict": str, "why": str, "lb": lb}
    gaps: dict[tuple[tuple[str, ...], str], dict[str, Any]] = {}
    unresolved: list[str] = []
    for path in target_paths(state):
        if path.endpoint is None or not path.endpoint.groups:
            unresolved.append(f"{path.target}: its instance/ENI (and so its security groups) was not read")
            continue
        groups, cidrs, unknown = lb_sources(state, path.lb)
        if not groups and not cidrs:
            cidrs = vpc_cidrs(state, path.tg.get("VpcId"))  # NLB without groups, subnets not read
        for port in path.ports:
            verdict, why = sg_admits(
                state, path.endpoint.groups, port, source_groups=groups, source_cidrs=cidrs
            )
            if verdict == ALLOW:
                ok_lines.append(f"{path.endpoint.label} port {port}: {why}")
                continue
            key = (tuple(path.endpoint.groups), (path.lb or {}).get("LoadBalancerArn", ""))
            gap = gaps.setdefault(
                key,
                {
                    "ports": [],
                    "targets": [],
                    "verdict": verdict,
                    "why": why,
                    "lb": path.lb,
                    "tg": path.tg,
                    "cidrs": cidrs,
                    "healthy": True,
                },
            )
            gap["healthy"] = gap["healthy"] and path.healthy
            if port not in gap["ports"]:
                gap["ports"].append(port)
            if path.target not in gap["targets"]:
                gap["targets"].append(path.target)
            if verdict == DENY:
                gap["verdict"] = DENY
    for (groups, _lb_arn), gap in gaps.items():
        findings.append(_gap_finding(state, list(groups), gap))
    findings.extend(_node_groups(state))
    if findings:
        return findings
    if unresolved and not ok_lines:
        return [
            Finding(
                CHECK,
                Status.SKIP,
                "No target could be tied to an instance or network interface",
                evidence=unresolved,
            )
        ]
    return [
        Finding(
            CHECK,
            Status.PASS,
            "The targets' security groups admit the load balancer on the traffic and health-check ports",
            evidence=sorted(set(ok_lines)) + unresolved,
        )
    ]


def _source_text(lb: dict[str, Any] | None, cidrs: list[str]) -> str:
    groups = list((lb or {}).get("SecurityGroups") or [])
    if groups:
        return f"{lb_label(lb)} security group(s) {', '.join(groups)}"
    return f"{lb_label(lb)} subnets {', '.join(cidrs) or '(not read)'}"


def _gap_finding(state: State, groups: list[str], gap: dict[str, Any]) -> Finding:
    lb = gap["lb"]
    ports = sorted(gap["ports"])
    src = _source_text(lb, gap["cidrs"])
    port_text = ", ".join(map(str, ports))
    evidence = [f"target {t}" for t in gap["targets"]]
    evidence.append(f"security groups of the target: {', '.join(groups) or '(none)'}")
    for gid in groups:
        sg = sg_by_id(state, gid) or {}
        for perm in sg.get("IpPermissions") or []:
            evidence.append(f"{gid} ({sg.get('GroupName', '?')}) inbound {_perm_text(perm)}")
    if not (lb or {}).get("SecurityGroups") and (gap["tg"] or {}).get("TargetType") == "instance":
        # An NLB keeps the client's IP for instance targets by default: only the health checks come from its subnets.
        evidence.append(f"source: {src}; port(s) needed: {port_text} (health checks; with client IP preservation, on by default "
                        "for instance targets, clients reach the nodes from their own addresses, which the rule below does not admit)")
    else:
        evidence.append(f"source: {src}; port(s) needed: {port_text} (traffic and health checks)")
    if gap["why"]:
        evidence.append(gap["why"])
    fix = _fix(state, groups, lb, gap["cidrs"], ports, f"lbhealth: {_short(lb)} health checks")
    if gap["healthy"]:
        # The load balancer does reach these targets: the groups read are not all that applies
        # (security groups for pods on branch ENIs, a rule this evaluation cannot resolve).
        return Finding(
            CHECK,
            Status.WARN,
            f"Security groups {', '.join(groups)} seem not to admit {src} on port {port_text}, yet the targets pass "
            "their health checks: other security groups are in effect (security groups for pods?)",
            evidence=evidence,
            next_step=f"aws ec2 describe-network-interfaces{region_flag(state)} --filters "
            f"Name=addresses.private-ip-address,Values={','.join(t.split(':')[0] for t in gap['targets'])}",
        )
    if gap["verdict"] == DENY:
        return Finding(
            CHECK,
            Status.FAIL,
            f"Security groups {', '.join(groups)} do not admit {src} on port {port_text}: health checks are dropped",
            evidence=evidence,
            next_step=fix.command
            if fix
            else f"aws ec2 describe-security-groups{region_flag(state)} --group-ids {' '.join(groups)}",
            fix=fix,
            cause="network-sg",
            supports=("network-sg",),
        )
    return Finding(
        CHECK,
        Status.WARN,
        f"Could not confirm that security groups {', '.join(groups)} admit {src} on port {port_text}",
        evidence=evidence,
        next_step=f"aws ec2 describe-security-groups{region_flag(state)} --group-ids {' '.join(groups)}",
        fix=fix,
        cause="network-sg",
        supports=("network-sg",),
    )


def _short(lb: dict[str, Any] | None) -> str:
    return (lb or {}).get("LoadBalancerName") or "load balancer"


def _perm_text(perm: dict[str, Any]) -> str:
    proto = str(perm.get("IpProtocol"))
    ports = (
        "all traffic" if proto in ("-1", "all") else f"{proto} {perm.get('FromPort')}-{perm.get('ToPort')}"
    )
    srcs = [p.get("GroupId") for p in perm.get("UserIdGroupPairs") or []]
    srcs += [r.get("CidrIp") for r in perm.get("IpRanges") or []]
    srcs += [r.get("CidrIpv6") for r in perm.get("Ipv6Ranges") or []]
    srcs += [p.get("PrefixListId") for p in perm.get("PrefixListIds") or []]
    return f"{ports} from {', '.join(s for s in srcs if s) or '(nothing)'}"


def _rule_group(state: State, groups: list[str]) -> str:
    """Where to add the rule: the controller's shared backend group, the EKS cluster group, else the first."""
    for gid in groups:
        tags = {t.get("Key"): t.get("Value") for t in (sg_by_id(state, gid) or {}).get("Tags") or []}
        if tags.get("elbv2.k8s.aws/resource") == "backend-sg":
            return gid
    for gid in groups:
        tags = {t.get("Key"): t.get("Value") for t in (sg_by_id(state, gid) or {}).get("Tags") or []}
        if "aws:eks:cluster-name" in tags:
            return gid
    return groups[0]


def _fix(
    state: State,
    groups: list[str],
    lb: dict[str, Any] | None,
    cidrs: list[str],
    ports: list[int],
    description: str,
    source_groups: list[str] | None = None,
) -> FixPlan | None:
    if not groups:
        return None
    src_groups = source_groups if source_groups is not None else list((lb or {}).get("SecurityGroups") or [])
    if not src_groups and not cidrs:
        return None
    target_group = _rule_group(state, groups)
    perms = []
    for port in ports:
        perm: dict[str, Any] = {"IpProtocol": "tcp", "FromPort": port, "ToPort": port}
        if src_groups:
            perm["UserIdGroupPairs"] = [{"GroupId": src_groups[0], "Description": description}]
        else:
            perm["IpRanges"] = [{"CidrIp": c, "Description": description} for c in cidrs]
        perms.append(perm)
    params = {"GroupId": target_group, "IpPermissions": perms}
    command = (
        f"aws ec2 authorize-security-group-ingress{region_flag(state)} --group-id {target_group} "
        f"--ip-permissions '{json.dumps(perms, separators=(',', ':'))}'"
    )
    src = src_groups[0] if src_groups else ", ".join(cidrs)
    return FixPlan(
        id="FIX-SG-RULE",
        title=f"Admit {src} on tcp {', '.join(map(str, ports))} in {target_group}",
        patch=params,
        command=command,
        target=ObjectRef(
            kind="SecurityGroup", name=target_group, namespace=region(state) or None, api_version="ec2"
        ),
        patch_type="cloud-api",
    )


def _node_groups(state: State) -> list[Finding]:
    """Instance targets with the Cluster policy: every node group must admit the others on the pod port."""
    tgs = [tg for tg, _ in service_target_groups(state)]
    if external_traffic_local(state) or not any(tg.get("TargetType") == "instance" for tg in tgs):
        return []
    groups_of: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for node in state.nodes:
        inst = instance_by_id(state, instance_id_of_node(node))
        if inst:
            groups_of.setdefault(tuple(primary_groups(inst)), []).append(inst)
    if len(groups_of) < 2:
        return []
    ports = pod_ports(state)
    out: list[Finding] = []
    for dst, dst_insts in groups_of.items():
        for src, src_insts in groups_of.items():
            if src == dst:
                continue
            src_ips = [f"{i.get('PrivateIpAddress')}/32" for i in src_insts if i.get("PrivateIpAddress")]
            missing = [
                p
                for p in ports
                if sg_admits(state, dst, p, source_groups=src, source_cidrs=src_ips)[0] == DENY
            ]
            if not missing:
                continue
            dst_nodes = _node_names(state, dst_insts)
            src_nodes = _node_names(state, src_insts)
            fix = _fix(
                state,
                list(dst),
                None,
                [],
                missing,
                "lbhealth: node group to node group",
                source_groups=list(src),
            )
            out.append(
                Finding(
                    CHECK,
                    Status.FAIL,
                    f"Nodes with security groups {', '.join(dst)} do not admit nodes with {', '.join(src)} on port "
                    f"{', '.join(map(str, missing))}: kube-proxy forwards load-balancer traffic between node groups and it is dropped",
                    evidence=[
                        f"node group A (security groups {', '.join(dst)}): {dst_nodes}",
                        f"node group B (security groups {', '.join(src)}): {src_nodes}",
                        f"pod port(s) of {state.target.ref}: {', '.join(map(str, ports))}",
                        *[
                            f"{gid} inbound {_perm_text(p)}"
                            for gid in dst
                            for p in (sg_by_id(state, gid) or {}).get("IpPermissions") or []
                        ],
                    ],
                    next_step=fix.command
                    if fix
                    else "Add inbound rules admitting the other node groups' security groups",
                    fix=fix,
                    cause="network-sg",
                    supports=("network-sg",),
                )
            )
    return out


def _node_names(state: State, instances: list[dict[str, Any]]) -> str:
    names = []
    for inst in instances:
        node = state.node_by_address(inst.get("InstanceId") or "")
        names.append(f"{meta(node).get('name') if node else '?'} ({inst.get('InstanceId')})")
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
