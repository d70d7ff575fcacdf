"""AWS-MAP: find the Service's load balancer and target groups, and say how."""

from __future__ import annotations

from checks.aws._common import exposed_by_lb, lb_label, region_flag, tg_name
from checks.model import Finding, Status
from checks.providers.aws import is_lbc_service
from checks.providers.aws.mapping import (
    hostname_kind,
    service_load_balancers,
    service_target_groups,
    service_tgbs,
    status_hostnames,
    tgb_arn,
    tgb_name,
    wanted_lb_names,
)
from checks.registry import check
from checks.state import State, meta


@check(
    "AWS-MAP",
    title="The Service's load balancer and target groups are found",
    seed="all (find the load balancer and target group of the Service)",
    reads=("aws.elbv2",),
    uses=("k8s.service", "k8s.ingresses", "k8s.targetgroupbindings"),
    severity=35,
)
def aws_map(state: State) -> Finding:
    """Every other AWS check needs the right target groups; a wrong mapping makes all of them lie.

    Without a load balancer at all, nothing else can be healthy: the controller never created
    it (permissions, a rejected annotation) or the Service is not what the alarm points at.
    """
    svc = state.service
    if svc is None and not state.aws.target_groups and not state.aws.load_balancers:
        return Finding(
            "AWS-MAP",
            Status.SKIP,
            f"Service {state.target.ref} was not found, so nothing names its load balancer",
        )
    if svc is not None and not exposed_by_lb(state):
        return Finding(
            "AWS-MAP",
            Status.SKIP,
            f"Service {state.target.ref} is not exposed through an AWS load balancer (type {(svc.get('spec') or {}).get('type', 'ClusterIP')}, no Ingress, no TargetGroupBinding)",
        )

    tgs = service_target_groups(state)
    lbs = service_load_balancers(state)
    tried = _tried(state)
    if tgs:
        evidence = []
        for lb in lbs:
            evidence.append(
                f"{lb_label(lb)}: {(lb.get('Scheme') or '?')}, state {((lb.get('State') or {}).get('Code') or '?')}, DNS {(lb.get('DNSName') or '?')}"
            )
        for tg, how in tgs:
            evidence.append(
                f"target group {tg_name(tg)} ({(tg.get('TargetType') or '?')} targets, {(tg.get('Protocol') or '?')}:{(tg.get('Port') or '?')}) "
                f"found by {how}; ARN {tg.get('TargetGroupArn')}"
            )
        hows = sorted({_how_kind(how) for _, how in tgs})
        inactive = [lb for lb in lbs if (lb.get("State") or {}).get("Code") not in (None, "active")]
        if inactive:
            lb = inactive[0]
            st = lb.get("State") or {}
            return Finding(
                "AWS-MAP",
                Status.WARN,
                f"{lb_label(lb)} is {st.get('Code')}{': ' + st['Reason'] if st.get('Reason') else ''}, not active",
                evidence=evidence,
                next_step=f"aws elbv2 describe-load-balancers{region_flag(state)} --names {lb.get('LoadBalancerName')}",
                cause="controller",
                supports=("controller",),
            )
        what = ", ".join(lb_label(lb) for lb in lbs) or "load balancer not read"
        return Finding(
            "AWS-MAP",
            Status.PASS,
            f"Found {what} and {len(tgs)} target group(s) of {state.target.ref} (by {', '.join(hows)})",
            evidence=evidence,
            next_step=f"aws elbv2 describe-target-health{region_flag(state)} --target-group-arn {tgs[0][0].get('TargetGroupArn')}",
        )

    if lbs:
        lb = lbs[0]
        return Finding(
            "AWS-MAP",
            Status.FAIL,
            f"{lb_label(lb)} has no target group for {state.target.ref}: its listeners forward nowhere for this Service",
            evidence=[f"{lb_label(lb)} ARN {lb.get('LoadBalancerArn')}", *_listeners(state, lb), *tried],
            next_step=f"aws elbv2 describe-target-groups{region_flag(state)} --load-balancer-arn {lb.get('LoadBalancerArn')}",
            cause="controller",
            supports=("controller",),
        )

    classic = [h for h in status_hostnames(svc) if hostname_kind(h) == "alb-or-classic"]
    if (
        classic
        and not is_lbc_service(state)
        and "nlb"
        not in state.service_annotations.get("service.beta.kubernetes.io/aws-load-balancer-type", "")
        and not state.ingresses
    ):
        return Finding(
            "AWS-MAP",
            Status.SKIP,
            f"{classic[0]} looks like a Classic Load Balancer (in-tree provider); lbhealth reads ALB/NLB (ELBv2) only",
            evidence=tried,
            next_step=f"aws elb describe-instance-health{region_flag(state)} --load-balancer-name {_classic_name(classic[0])}",
        )
    no_status = not status_hostnames(svc) and not any(status_hostnames(i) for i in state.ingresses)
    summary = f"No AWS load balancer found for {state.target.ref}: " + (
        "the Service/Ingress has no load balancer hostname in its status (it was never provisioned)"
        if no_status
        else "nothing matched what was tried"
    )
    return Finding(
        "AWS-MAP",
        Status.FAIL,
        summary,
        evidence=tried,
        next_step=f"kubectl describe service {state.target.service} -n {state.target.namespace}  # look for events from the load balancer controller",
        cause="controller",
        supports=("controller",),
    )


def _listeners(state: State, lb: dict) -> list[str]:
    out = []
    for ls in state.aws.listeners:
        if ls.get("LoadBalancerArn") != lb.get("LoadBalancerArn"):
            continue
        actions = []
        for act in ls.get("DefaultActions") or []:
            target = act.get("TargetGroupArn") or ",".join(
                t.get("TargetGroupArn", "?")
                for t in ((act.get("ForwardConfig") or {}).get("TargetGroups") or [])
            )
            actions.append(f"{act.get('Type')}{' ' + target if target else ''}")
        out.append(
            f"listener {ls.get('Protocol') or '?'}:{ls.get('Port') or '?'} -> {'; '.join(actions) or 'no default action'}"
        )
    return out


def _how_kind(how: str) -> str:
    if how.startswith("TargetGroupBinding"):
        return "TargetGroupBinding"
    if how.startswith("tag "):
        return "controller tags"
    if how.startswith("the alarm"):
        return "the alarm's target group"
    if how.startswith("attached"):
        return "the load balancer named in the status hostname"
    return "elimination: the only target groups in the dump"


def _tried(state: State) -> list[str]:
    """What the mapping looked at, so a person can repeat or correct it."""
    out = []
    tgbs = service_tgbs(state)
    if tgbs:
        for b in tgbs:
            out.append(
                f"TargetGroupBinding {meta(b).get('name')} -> {tgb_arn(b) or tgb_name(b)} (not found in AWS)"
            )
    elif "k8s.targetgroupbindings" in state.read_errors:
        out.append(f"TargetGroupBindings not readable: {state.read_errors['k8s.targetgroupbindings']}")
    else:
        out.append(
            f"no TargetGroupBinding in {state.target.namespace} references Service {state.target.service}"
        )
    names = wanted_lb_names(state)
    if names:
        found = {lb.get("LoadBalancerName") for lb in state.aws.load_balancers}
        for name, where in names:
            out.append(f"load balancer name {name} from {where}: {'found' if name in found else 'not found'}")
    else:
        out.append("no load balancer hostname in the status of the Service or its Ingresses")
    out.append(
        f"tags service.k8s.aws/stack={state.target.ref}, kubernetes.io/service-name={state.target.ref}, "
        f"ingress.k8s.aws/resource={state.target.namespace}/<ingress>-{state.target.service}:<port>: "
        f"no match among {len(state.aws.target_groups)} target group(s) read"
    )
    return out


def _classic_name(hostname: str) -> str:
    """A Classic Load Balancer's name from its DNS name: `[internal-]<name>-<number>.<region>.elb.amazonaws.com`
    (a name may itself hold hyphens; only the last part is the number)."""
    first = hostname.split(".", 1)[0].removeprefix("internal-")
    return first.rsplit("-", 1)[0] if "-" in first else first
