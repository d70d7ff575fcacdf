"""AWS-NACL: network ACLs between the load balancer's subnets and the targets' subnets."""

from __future__ import annotations

from typing import Any

from checks.aws._common import no_target_groups, region_flag
from checks.aws._net import (
    ALLOW,
    DENY,
    EPHEMERAL,
    lb_subnets,
    nacl_for_subnet,
    nacl_verdict,
    target_paths,
)
from checks.model import Finding, Status
from checks.registry import check
from checks.state import State
from checks.values import as_int

CHECK = "AWS-NACL"


@check(
    CHECK,
    title="Network ACLs admit the load balancer's subnets and the return traffic",
    seed="The network ACL of the pods' subnet admits the LB subnet CIDR; the LB subnet's ACL admits return traffic on ephemeral ports",
    reads=("aws.elbv2", "aws.ec2_network", "aws.instances"),
    uses=("aws.target_health", "k8s.pods", "k8s.nodes", "k8s.service"),
    severity=65,
)
def network_acls(state: State) -> list[Finding]:
    """Network ACLs are stateless: a health check needs the request admitted into the target's
    subnet and the answer admitted back out, and the load balancer subnet's ACL must let the
    request out and the answer (to an ephemeral port, 1024-65535) back in. Entries are
    evaluated lowest RuleNumber first and the first match wins, so an early DENY hides a
    later ALLOW. Traffic inside one subnet is not filtered by its ACL.
    """
    skip = no_target_groups(state, CHECK)
    if skip:
        return [skip]
    if not state.aws.network_acls:
        return [Finding(CHECK, Status.SKIP, "No network ACL was read for the VPC")]
    problems: dict[tuple[str, bool, str, tuple[int, int]], dict[str, Any]] = {}
    ok: set[str] = set()
    notes: set[str] = set()
    for path in target_paths(state):
        ep = path.endpoint
        if ep is None or not ep.subnet_id or not path.lb:
            continue
        t_acl = nacl_for_subnet(state, ep.subnet_id, ep.vpc_id)
        for ls in lb_subnets(state, path.lb):
            if ls.get("SubnetId") == ep.subnet_id:
                notes.add(
                    f"{ep.label} shares subnet {ep.subnet_id} with the load balancer: no ACL in between"
                )
                continue
            if not ls.get("CidrBlock"):
                notes.add(f"load balancer subnet {ls.get('SubnetId')} was not described")
                continue
            l_acl = nacl_for_subnet(state, ls["SubnetId"], ls.get("VpcId"))
            lb_cidr, tgt = ls["CidrBlock"], f"{ep.address}/32" if ep.address else ""
            legs = []
            for port in path.ports:
                legs.append(
                    (
                        t_acl,
                        ep.subnet_id,
                        False,
                        lb_cidr,
                        (port, port),
                        f"request from LB subnet {ls['SubnetId']} into target subnet",
                    )
                )
                if tgt:
                    legs.append(
                        (
                            l_acl,
                            ls["SubnetId"],
                            True,
                            tgt,
                            (port, port),
                            "request out of the LB subnet to the target",
                        )
                    )
            legs.append(
                (
                    t_acl,
                    ep.subnet_id,
                    True,
                    lb_cidr,
                    EPHEMERAL,
                    "answer out of the target subnet back to the LB",
                )
            )
            if tgt:
                legs.append(
                    (
                        l_acl,
                        ls["SubnetId"],
                        False,
                        tgt,
                        EPHEMERAL,
                        "answer into the LB subnet on ephemeral ports",
                    )
                )
            for acl, subnet, egress, cidr, ports, what in legs:
                if acl is None:
                    notes.add(f"no network ACL read for subnet {subnet}")
                    continue
                verdict, why = nacl_verdict(acl, egress=egress, cidr=cidr, ports=ports)
                line = (
                    f"{acl.get('NetworkAclId')} (subnet {subnet}) {'egress to' if egress else 'ingress from'} {cidr} "
                    f"tcp {ports[0]}-{ports[1]}: {verdict.upper()} by {why} [{what}]"
                )
                if verdict == ALLOW:
                    ok.add(line)
                    continue
                key = (acl.get("NetworkAclId") or "?", egress, cidr, ports)
                item = problems.setdefault(
                    key,
                    {
                        "acl": acl,
                        "verdict": verdict,
                        "line": line,
                        "targets": [],
                        "why": why,
                        "healthy": True,
                    },
                )
                item["healthy"] = item["healthy"] and path.healthy
                if path.target not in item["targets"]:
                    item["targets"].append(path.target)
    grouped: dict[tuple[str, bool, tuple[int, int], str], list[tuple[str, dict[str, Any]]]] = {}
    for (acl_id, egress, cidr, ports), item in problems.items():
        grouped.setdefault((acl_id, egress, ports, item["verdict"]), []).append((cidr, item))
    findings = [_finding(state, key, items) for key, items in grouped.items()]
    if findings:
        return findings
    if not ok:
        return [
            Finding(
                CHECK,
                Status.SKIP,
                "No load balancer subnet / target subnet pair could be evaluated",
                evidence=sorted(notes),
            )
        ]
    return [
        Finding(
            CHECK,
            Status.PASS,
            "Network ACLs admit the health checks and their answers both ways",
            evidence=sorted(ok) + sorted(notes),
        )
    ]


def _finding(
    state: State, key: tuple[str, bool, tuple[int, int], str], items: list[tuple[str, dict[str, Any]]]
) -> Finding:
    """One finding per ACL, direction and port range; one `create-network-acl-entry` per address range."""
    acl_id, egress, ports, verdict = key
    direction = "egress" if egress else "ingress"
    port_text = f"{ports[0]}" if ports[0] == ports[1] else f"{ports[0]}-{ports[1]}"
    acl = items[0][1]["acl"]
    taken: set[int] = set()
    commands, evidence, targets = [], [], []
    for cidr, item in items:
        rule = _free_rule_number(acl, egress, item["why"], taken)
        taken.add(rule)
        commands.append(
            f"aws ec2 create-network-acl-entry{region_flag(state)} --network-acl-id {acl_id} --{direction} "
            f"--rule-number {rule} --protocol tcp --port-range From={ports[0]},To={ports[1]} --cidr-block {cidr} "
            "--rule-action allow"
        )
        evidence.append(item["line"])
        targets += [t for t in item["targets"] if t not in targets]
    cidrs = ", ".join(c for c, _ in items)
    verb = "denies" if verdict == DENY else "only partly admits"
    if all(item["healthy"] for _, item in items):
        return Finding(
            CHECK,
            Status.WARN,
            f"Network ACL {acl_id} seems to block {direction} {'to' if egress else 'from'} {cidrs} on tcp {port_text}, "
            "yet the targets pass their health checks: the load balancer's nodes use addresses this rule does not cover",
            evidence=evidence + [f"affected target {t}" for t in targets],
            next_step=f"aws ec2 describe-network-acls{region_flag(state)} --network-acl-ids {acl_id}",
        )
    return Finding(
        CHECK,
        Status.FAIL if verdict == DENY else Status.WARN,
        f"Network ACL {acl_id} {verb} {direction} {'to' if egress else 'from'} {cidrs} on tcp {port_text}: "
        "health checks or their answers are dropped",
        evidence=evidence + [f"affected target {t}" for t in targets],
        next_step=" && ".join(commands),
        cause="network-acl",
        supports=("network-acl",),
    )


def _free_rule_number(acl: dict[str, Any], egress: bool, why: str, taken: set[int] | None = None) -> int:
    """A free RuleNumber just below the entry that denies, so the new ALLOW is evaluated first."""
    used = {
        as_int(e.get("RuleNumber")) or 0 for e in acl.get("Entries") or [] if bool(e.get("Egress")) == egress
    }
    used |= taken or set()
    deny_at = 32767
    for word in why.replace("*", "32767").split():
        if word.isdigit():
            deny_at = int(word)
            break
    for n in range(min(deny_at, 32767) - 1, 0, -1):
        if n not in used:
            return n
    return 1
