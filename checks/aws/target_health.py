"""AWS-TARGET-HEALTH: what the load balancer itself says about each target, tied to pods and nodes."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from checks.aws._common import (
    DRAINING_STATES,
    REASON_SUPPORTS,
    REASONS,
    UNHEALTHY_STATES,
    describe_target,
    descriptions,
    no_target_groups,
    region_flag,
    selected_ready_pod_ips,
    target_id,
    tg_name,
    th_reason,
    th_state,
)
from checks.model import Finding, Status
from checks.providers.aws.mapping import service_target_groups
from checks.providers.base import external_traffic_local
from checks.registry import check
from checks.state import State, meta

CHECK = "AWS-TARGET-HEALTH"


@check(
    CHECK,
    title="Every registered target is healthy, and every ready pod is registered",
    seed="Check the health status of the targets (describe-target-health)",
    reads=("aws.elbv2", "aws.target_health"),
    uses=("k8s.pods", "k8s.nodes"),
    decides=("aws.elbv2", "aws.target_health"),
    symptom=True,
    severity=30,
)
def target_health(state: State) -> list[Finding]:
    """The load balancer's own verdict is the symptom every other check explains.

    Its reason code narrows the cause: a response-code mismatch means the app answered (path or
    code problem), a timeout means nothing answered (network path, port, listener on localhost).
    Pods missing from an `ip` target group, or IPs registered for pods long gone, point at the
    controller instead.
    """
    skip = no_target_groups(state, CHECK)
    if skip:
        return [skip]
    findings: list[Finding] = []
    pass_evidence: list[str] = []
    for tg, _how in service_target_groups(state):
        arn = tg.get("TargetGroupArn") or ""
        name = tg_name(tg)
        cmd = f"aws elbv2 describe-target-health{region_flag(state)} --target-group-arn {arn}"
        if arn not in state.aws.target_health:
            findings.append(
                Finding(CHECK, Status.SKIP, f"Target health of {name} was not read", next_step=cmd)
            )
            continue
        descs = descriptions(state, tg)
        registered = [d for d in descs if th_state(d) not in DRAINING_STATES and th_state(d) != "unused"]
        by_state: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for d in descs:
            by_state[th_state(d)].append(d)
        healthy = by_state.get("healthy", [])
        total = len(registered)

        if not descs:
            findings.append(
                Finding(
                    CHECK,
                    Status.FAIL,
                    f"Target group {name} has no registered targets: the load balancer has nowhere to send traffic",
                    evidence=[f"{arn}: TargetHealthDescriptions is empty"],
                    next_step=cmd,
                    supports=("controller", "selector", "pods-not-ready"),
                )
            )

        unhealthy: dict[str, list[dict[str, Any]]] = defaultdict(list)
        by_design: list[dict[str, Any]] = []
        pod_nodes = _nodes_with_ready_pods(state) if _local_instance(state, tg) else set()
        for d in descs:
            if th_state(d) not in UNHEALTHY_STATES:
                continue
            node = state.node_by_address(target_id(d))
            if pod_nodes and node is not None and meta(node).get("name") not in pod_nodes:
                by_design.append(d)
            else:
                unhealthy[th_reason(d) or "unknown"].append(d)
        if by_design:
            findings.append(
                Finding(
                    CHECK,
                    Status.WARN,
                    f"{len(by_design)} of {total} target(s) in {name} fail by design: their nodes run no ready pod of "
                    f"{state.target.ref}, and externalTrafficPolicy Local sends traffic only to nodes that do",
                    evidence=[_line(state, tg, d) for d in by_design]
                    + [f"nodes with a ready pod: {', '.join(sorted(pod_nodes))}"],
                    next_step=cmd,
                    supports=("traffic-policy",),
                )
            )
        for reason, items in sorted(unhealthy.items(), key=lambda kv: -len(kv[1])):
            meaning = REASONS.get(reason, "no reason given by the load balancer")
            matcher = (tg.get("Matcher") or {}).get("HttpCode")
            if reason == "Target.ResponseCodeMismatch" and matcher:
                meaning += f" (matcher {matcher})"
            if reason == "Target.Timeout":
                meaning += f" ({tg.get('HealthCheckTimeoutSeconds', '?')} s)"
            findings.append(
                Finding(
                    CHECK,
                    Status.FAIL,
                    f"{len(items)} of {total} target(s) in {name} are unhealthy with {reason}: {meaning}",
                    evidence=[_line(state, tg, d) for d in items],
                    next_step=cmd,
                    supports=REASON_SUPPORTS.get(reason, ()),
                )
            )

        initial = by_state.get("initial", [])
        if initial:
            findings.append(
                Finding(
                    CHECK,
                    Status.WARN,
                    f"{len(initial)} target(s) in {name} are still being checked (registration or first health checks); "
                    f"look again in {_settle_seconds(tg)} s",
                    evidence=[_line(state, tg, d) for d in initial],
                    next_step=cmd,
                )
            )

        for d in by_state.get("unused", []) + by_state.get("unavailable", []):
            reason = th_reason(d)
            if reason == "Target.NotRegistered":
                continue  # shown below as a pod missing from the group when it is one
            findings.append(
                Finding(
                    CHECK,
                    Status.FAIL
                    if reason in ("Target.NotInUse", "Target.HealthCheckDisabled")
                    else Status.WARN,
                    f"Target {target_id(d)} in {name} is {th_state(d)} ({reason}): {REASONS.get(reason, 'no reason given')}",
                    evidence=[_line(state, tg, d)],
                    next_step=cmd,
                    supports=REASON_SUPPORTS.get(reason, ()),
                )
            )

        if tg.get("TargetType") == "ip":
            findings.extend(_membership(state, tg, descs, cmd))

        draining = by_state.get("draining", []) + by_state.get("unhealthy.draining", [])
        pass_evidence.append(
            f"{name}: {len(healthy)} healthy of {total} registered"
            + (f", {len(draining)} draining" if draining else "")
            + "".join(f"; {_line(state, tg, d)}" for d in healthy[:5])
        )

    if any(f.status in (Status.FAIL, Status.WARN) for f in findings):
        return findings
    if findings and all(f.status == Status.SKIP for f in findings):
        return findings
    return [
        Finding(
            CHECK,
            Status.PASS,
            "Every registered target is healthy and every ready pod is registered",
            evidence=pass_evidence,
            next_step=f"aws elbv2 describe-target-health{region_flag(state)} --target-group-arn <arn>",
        )
    ]


def _line(state: State, tg: dict[str, Any], desc: dict[str, Any]) -> str:
    th = desc.get("TargetHealth") or {}
    text = f"{describe_target(state, tg, desc)}: {th.get('State', '?')}"
    if th.get("Reason"):
        text += f" {th['Reason']}"
    if th.get("Description"):
        text += f' "{th["Description"]}"'
    if desc.get("HealthCheckPort"):
        text += f" (health-check port {desc['HealthCheckPort']})"
    return text


def _local_instance(state: State, tg: dict[str, Any]) -> bool:
    return tg.get("TargetType") == "instance" and external_traffic_local(state)


def _nodes_with_ready_pods(state: State) -> set[str]:
    return {
        (p.get("spec") or {}).get("nodeName") or ""
        for p in selected_ready_pod_ips(state).values()
        if (p.get("spec") or {}).get("nodeName")
    }


def _settle_seconds(tg: dict[str, Any]) -> int:
    try:
        return int(tg.get("HealthCheckIntervalSeconds") or 30) * int(tg.get("HealthyThresholdCount") or 5)
    except (TypeError, ValueError):
        return 150


def _membership(state: State, tg: dict[str, Any], descs: list[dict[str, Any]], cmd: str) -> list[Finding]:
    """ip target groups: ready pods that are not registered, registered IPs that are no selected pod."""
    out: list[Finding] = []
    name = tg_name(tg)
    registered = {
        target_id(d)
        for d in descs
        if th_state(d) not in DRAINING_STATES and th_reason(d) != "Target.NotRegistered"
    }
    ready = selected_ready_pod_ips(state)
    missing = [(ip, pod) for ip, pod in ready.items() if ip not in registered]
    if missing and "k8s.pods" in state.reads_done:
        out.append(
            Finding(
                CHECK,
                Status.FAIL,
                f"{len(missing)} ready pod(s) of {state.target.ref} are not registered in {name}: "
                "the load balancer controller has not registered them",
                evidence=[
                    f"pod {meta(p).get('namespace')}/{meta(p).get('name')} IP {ip} is ready but not a target of {name}"
                    for ip, p in missing
                ],
                next_step="kubectl logs -n kube-system deployment/aws-load-balancer-controller | grep -i -E 'error|targetgroupbinding'",
                supports=("controller",),
            )
        )
    selected_ips = {(p.get("status") or {}).get("podIP") for p in state.selected_pods}
    stale = [
        d
        for d in descs
        if th_state(d) not in DRAINING_STATES
        and th_reason(d) != "Target.NotRegistered"
        and target_id(d) not in selected_ips
    ]
    if stale and "k8s.pods" in state.reads_done:
        out.append(
            Finding(
                CHECK,
                Status.WARN,
                f"{len(stale)} IP(s) registered in {name} belong to no pod the Service selects (stale registrations)",
                evidence=[_line(state, tg, d) for d in stale],
                next_step=cmd,
                supports=("controller",),
            )
        )
    return out
