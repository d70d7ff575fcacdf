"""AWS-ROUTES: the route tables of the involved subnets keep VPC traffic local."""

from __future__ import annotations

from typing import Any

from checks.aws._common import no_target_groups, region_flag
from checks.aws._net import (
    best_route,
    lb_subnets,
    route_table_for_subnet,
    route_target,
    route_text,
    subnet_by_id,
    target_paths,
    vpc_cidrs,
)
from checks.model import Finding, Status
from checks.registry import check
from checks.state import State

CHECK = "AWS-ROUTES"


@check(
    CHECK,
    title="Route tables keep the local route between the load balancer and the targets",
    seed="The route table allows local traffic within the VPC CIDR range",
    reads=("aws.elbv2", "aws.ec2_network", "aws.instances"),
    uses=("aws.target_health", "k8s.pods", "k8s.nodes", "k8s.service"),
    severity=60,
)
def routes(state: State) -> list[Finding]:
    """The `local` route carries traffic between subnets of a VPC. It cannot be deleted, but it
    can be pointed at an appliance, and a more specific route (or a blackhole) can take a
    subnet's traffic elsewhere. Then health checks leave for a firewall or nowhere. A subnet
    without its own route table uses the VPC's main one.
    """
    skip = no_target_groups(state, CHECK)
    if skip:
        return [skip]
    if not state.aws.route_tables:
        return [Finding(CHECK, Status.SKIP, "No route table was read for the VPC")]
    fails: dict[str, list[str]] = {}
    warns: dict[str, list[str]] = {}
    ok: set[str] = set()
    tables_seen: dict[str, tuple[dict[str, Any], str]] = {}
    felt: set[str] = set()  # broken routes that an unhealthy target sits behind
    paths = target_paths(state)
    any_unhealthy = any(not p.healthy for p in paths)
    for path in paths:
        ep = path.endpoint
        if ep is None or not ep.subnet_id or not path.lb:
            continue
        for ls in lb_subnets(state, path.lb):
            if ls.get("SubnetId") == ep.subnet_id:
                continue
            legs = []
            if ep.address:
                legs.append(
                    (
                        ls["SubnetId"],
                        ls.get("VpcId"),
                        f"{ep.address}/32",
                        f"LB subnet {ls['SubnetId']} -> target {ep.label}",
                    )
                )
            if ls.get("CidrBlock"):
                legs.append(
                    (
                        ep.subnet_id,
                        ep.vpc_id,
                        ls["CidrBlock"],
                        f"target subnet {ep.subnet_id} -> LB subnet {ls['SubnetId']}",
                    )
                )
            for subnet, vpc, dest, what in legs:
                table, explicit = route_table_for_subnet(state, subnet, vpc)
                if table is None:
                    warns.setdefault(f"no route table read for subnet {subnet}", []).append(what)
                    continue
                label = f"{table.get('RouteTableId')} ({'associated with' if explicit else 'main table, used by'} {subnet})"
                tables_seen[table.get("RouteTableId") or "?"] = (table, label)
                route = best_route(table, dest)
                if route is None:
                    fails.setdefault(f"{label}: no route to {dest}", []).append(what)
                    if not path.healthy:
                        felt.add(f"{label}: no route to {dest}")
                elif route.get("State") == "blackhole":
                    text = f"{label}: {route_text(route)} is a blackhole for {dest}"
                    fails.setdefault(text, []).append(what)
                    if not path.healthy:
                        felt.add(text)
                elif route_target(route) != "local":
                    warns.setdefault(
                        f"{label}: {dest} goes via {route_text(route)}, not the local route", []
                    ).append(what)
                else:
                    ok.add(f"{label}: {dest} via {route_text(route)} [{what}]")
    for table, label in tables_seen.values():
        for cidr in vpc_cidrs(state, table.get("VpcId")):
            if not any(
                r.get("DestinationCidrBlock") == cidr and route_target(r) == "local"
                for r in table.get("Routes") or []
            ):
                fails.setdefault(f"{label}: no local route for VPC CIDR {cidr}", []).append(
                    "VPC-internal traffic"
                )
                if any_unhealthy:
                    felt.add(f"{label}: no local route for VPC CIDR {cidr}")
    findings = []
    for text, whats in fails.items():
        if text in felt:
            findings.append(_finding(state, Status.FAIL, text, whats))
        else:  # every target behind this route passes its checks: the evaluation is missing something
            f = _finding(state, Status.WARN, text, whats)
            f.summary += ", yet the targets pass their health checks"
            f.cause, f.supports = "", ()
            findings.append(f)
    for text, whats in warns.items():
        findings.append(_finding(state, Status.WARN, text, whats))
    if findings:
        return findings
    if not ok:
        return [
            Finding(
                CHECK,
                Status.SKIP,
                "No load balancer subnet / target subnet pair to evaluate (same subnet or not read)",
            )
        ]
    return [
        Finding(
            CHECK,
            Status.PASS,
            "Traffic between the load balancer and the targets takes the local route",
            evidence=sorted(ok),
        )
    ]


def _finding(state: State, status: Status, text: str, whats: list[str]) -> Finding:
    if text.startswith("no route table"):
        subnet = text.rsplit(" ", 1)[-1]
        return Finding(
            CHECK,
            Status.WARN,
            f"Could not tell how subnet {subnet} routes to the load balancer: its route table was not read",
            evidence=[text, *sorted(set(whats))],
            next_step=f"aws ec2 describe-route-tables{region_flag(state)} --filters Name=association.subnet-id,Values={subnet}",
        )
    rtb = text.split(" ", 1)[0]
    summary = (
        f"Route table {rtb} sends health-check traffic away from the local route"
        if status == Status.FAIL
        else f"Route table {rtb}: health-check traffic does not take the local route"
    )
    subnet = next((w.split()[2] for w in whats if w.startswith(("LB subnet", "target subnet"))), "")
    where = subnet_by_id(state, subnet)
    return Finding(
        CHECK,
        status,
        summary,
        evidence=[text, *sorted(set(whats))]
        + ([f"subnet {subnet} CIDR {where.get('CidrBlock')}"] if where else []),
        next_step=f"aws ec2 describe-route-tables{region_flag(state)} --route-table-ids {rtb}",
        cause="network-route",
        supports=("network-route",),
    )
