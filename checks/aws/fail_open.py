"""AWS-FAIL-OPEN: every registered target is unhealthy, so the load balancer routes to all of them."""

from __future__ import annotations

from checks.aws._common import (
    UNHEALTHY_STATES,
    descriptions,
    lb_kind,
    no_target_groups,
    region_flag,
    tg_name,
    th_reason,
    th_state,
)
from checks.lbview import fail_open_consequence
from checks.model import Finding, Status
from checks.providers.aws.mapping import lb_for_target_group, service_target_groups
from checks.registry import check
from checks.state import State

CHECK = "AWS-FAIL-OPEN"


@check(
    CHECK,
    title="Not every target is unhealthy (the load balancer is not failing open)",
    seed="beyond (ELB fail-open behaviour)",
    reads=("aws.elbv2", "aws.target_health"),
    severity=25,
    symptom=True,
)
def fail_open(state: State) -> Finding:
    """When every registered target is unhealthy, ALBs and NLBs stop trusting health checks
    and send traffic to all targets. The site may still work while every health check
    fails, so the alarm looks false; it is not. The outage is only waiting: the day one
    target really dies, nothing tells it apart from the others.
    """
    skip = no_target_groups(state, CHECK)
    if skip:
        return skip
    open_groups = []
    evidence = []
    registered = False
    for tg, _how in service_target_groups(state):
        descs = [d for d in descriptions(state, tg) if th_state(d) not in ("unused", "draining")]
        if not descs:
            evidence.append(
                f"{tg_name(tg)}: no registered targets (nothing to fail open to; requests get 503)"
            )
            continue
        registered = True
        bad = [d for d in descs if th_state(d) in UNHEALTHY_STATES]
        evidence.append(f"{tg_name(tg)}: {len(bad)} of {len(descs)} registered target(s) unhealthy")
        if len(bad) == len(descs):
            open_groups.append(tg)
    if not open_groups:
        return Finding(
            CHECK,
            Status.PASS,
            "The load balancer is not failing open: some targets pass their health checks" if registered
            else "The load balancer is not failing open: no target is registered, so there is nothing to fail open to",
            evidence=evidence,
        )
    tg = open_groups[0]
    lb = lb_for_target_group(state, tg)
    how = (
        "the NLB fails open when no zone has a healthy target"
        if lb_kind(lb) == "network"
        else "the load balancer then routes requests to all of them"
    )
    names = ", ".join(tg_name(t) for t in open_groups)
    evidence += _what_requests_meet(state, open_groups)
    return Finding(
        CHECK,
        Status.WARN,
        f"Every target in {names} is unhealthy and {how}; {fail_open_consequence(state)}",
        evidence=evidence,
        next_step=f"aws elbv2 describe-target-health{region_flag(state)} --target-group-arn {tg.get('TargetGroupArn')}  # after fixing the cause ranked first: every target should turn healthy",
    )


# What the health checks' reason says about requests sent to the same targets while failing open.
_REQUESTS = {
    "Target.ResponseCodeMismatch": "they answer HTTP, only not with a success code on the checked path: requests to the "
    "app's real paths are likely served, and the outage is latent",
    "Target.Timeout": "connections to them time out: requests sent to them most likely time out too",
}


def _what_requests_meet(state: State, groups: list) -> list[str]:
    """One line when every unhealthy target of the failing-open groups gives the same telling reason."""
    reasons = {th_reason(d) for tg in groups for d in descriptions(state, tg) if th_state(d) in UNHEALTHY_STATES}
    if len(reasons) != 1:
        return []
    reason = reasons.pop()
    return [f"every unhealthy target reports {reason}: {_REQUESTS[reason]}"] if reason in _REQUESTS else []
