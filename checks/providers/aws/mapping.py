"""Which AWS load balancer and target groups belong to a Kubernetes Service, and the reverse.

Pure functions over data already collected (no API calls), shared by the live collector
(to choose what to read), by AWS-MAP (to say how the mapping was made) and by the alarm
webhooks (to go from a CloudWatch `TargetGroup` dimension back to the Service).

Three sources, most authoritative first:

1. TargetGroupBinding objects (`spec.serviceRef.name`, `spec.targetGroupARN`): the AWS Load
   Balancer Controller creates one per Service port and per Ingress backend.
2. Tags the controllers put on target groups: `service.k8s.aws/stack: ns/name`,
   `service.k8s.aws/resource: ns/name:port`, `ingress.k8s.aws/resource: ns/ingress-service:port`,
   the in-tree `kubernetes.io/service-name: ns/name`.
3. The load balancer's DNS name in the Service's (or Ingress's) `status.loadBalancer.ingress`.
   Generated names are truncated, so a name only finds the load balancer, never the Service.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from checks.state import State, ingress_services, meta
from checks.values import as_dict, as_list, as_str

TAG_SVC_STACK = "service.k8s.aws/stack"
TAG_SVC_RESOURCE = "service.k8s.aws/resource"
TAG_ING_STACK = "ingress.k8s.aws/stack"
TAG_ING_RESOURCE = "ingress.k8s.aws/resource"
TAG_INTREE_SERVICE = "kubernetes.io/service-name"
TAG_LEGACY_INGRESS = "kubernetes.io/ingress-name"
TAG_LEGACY_NAMESPACE = "kubernetes.io/namespace"

_ELB_SUFFIXES = (".amazonaws.com", ".amazonaws.com.cn")
# <name>-<16 hex>.elb.<region>.amazonaws.com (NLB) | <name>-<digits>.<region>.elb.amazonaws.com (ALB, classic)
_NLB_HOST = re.compile(
    r"^(?:internal-)?(?P<label>[^.]+)\.elb\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$"
)
_ALB_HOST = re.compile(
    r"^(?:internal-)?(?P<label>[^.]+)\.(?P<region>[a-z]{2}(?:-gov)?-[a-z]+-\d+)\.elb\.amazonaws\.com(?:\.cn)?$"
)


def lb_name_from_hostname(hostname: str | None) -> str | None:
    """The ELB name inside its DNS name, or None if this is no ELB hostname.

    `k8s-default-albinsta-fcb010af73-2014729787.ap-southeast-2.elb.amazonaws.com` ->
    `k8s-default-albinsta-fcb010af73`; `internal-` prefixes are dropped; the last `-suffix`
    of the first DNS label is the random part AWS appends.
    """
    host = (hostname or "").strip().lower().rstrip(".")
    if not host.endswith(_ELB_SUFFIXES):
        return None
    if host.startswith("dualstack."):
        host = host[len("dualstack.") :]
    label = host.split(".", 1)[0]
    if label.startswith("internal-"):
        label = label[len("internal-") :]
    name, sep, _suffix = label.rpartition("-")
    return name if sep and name else None


def region_from_hostname(hostname: str | None) -> str | None:
    host = (hostname or "").strip().lower().rstrip(".")
    for pattern in (_NLB_HOST, _ALB_HOST):
        m = pattern.match(host)
        if m:
            return m.group("region")
    return None


def hostname_kind(hostname: str | None) -> str:
    """`nlb` for `*.elb.<region>.amazonaws.com`, `alb-or-classic` for `*.<region>.elb.amazonaws.com`."""
    host = (hostname or "").strip().lower()
    if _NLB_HOST.match(host):
        return "nlb"
    if _ALB_HOST.match(host):
        return "alb-or-classic"
    return "unknown"


def status_hostnames(obj: dict[str, Any] | None) -> list[str]:
    entries = as_list(as_dict(as_dict(as_dict(obj).get("status")).get("loadBalancer")).get("ingress"))
    return [e["hostname"] for e in entries if isinstance(e, dict) and isinstance(e.get("hostname"), str) and e["hostname"]]


def service_tgbs(state: State) -> list[dict[str, Any]]:
    """TargetGroupBindings in the Service's namespace whose serviceRef names the Service."""
    return [
        b
        for b in state.k8s.of_kind("TargetGroupBinding", state.target.namespace)
        if ((b.get("spec") or {}).get("serviceRef") or {}).get("name") == state.target.service
    ]


def tgb_arn(binding: dict[str, Any]) -> str | None:
    return (binding.get("spec") or {}).get("targetGroupARN") or None


def tgb_name(binding: dict[str, Any]) -> str | None:
    return (binding.get("spec") or {}).get("targetGroupName") or None


def tag_match(
    tags: dict[str, str] | None, namespace: str, service: str, ingresses: Iterable[str] = ()
) -> str | None:
    """How a target group's tags say it belongs to `namespace/service`, or None.

    `ingresses` are the names of Ingresses in the namespace routing to the Service; the
    controller tags their target groups `ns/<ingress>-<service>:<port>`.
    """
    tags = tags or {}
    ref = f"{namespace}/{service}"
    if tags.get(TAG_SVC_STACK) == ref:
        return f"tag {TAG_SVC_STACK}={ref}"
    res = tags.get(TAG_SVC_RESOURCE) or ""
    if res.rpartition(":")[0] == ref:
        return f"tag {TAG_SVC_RESOURCE}={res}"
    ing_res = tags.get(TAG_ING_RESOURCE) or ""
    if ing_res:
        head = ing_res.rpartition(":")[0]
        for ing in ingresses:
            if head == f"{namespace}/{ing}-{service}":
                return f"tag {TAG_ING_RESOURCE}={ing_res}"
    if tags.get(TAG_INTREE_SERVICE) == ref:
        return f"tag {TAG_INTREE_SERVICE}={ref}"
    return None


def services_from_tags(
    tags: dict[str, str] | None, ingresses: Iterable[dict[str, Any]] = ()
) -> list[tuple[str, str]]:
    """Services a target group's tags name (order kept, no duplicates)."""
    tags = tags or {}
    found: list[tuple[str, str]] = []

    def add(ns: str, svc: str) -> None:
        if ns and svc and (ns, svc) not in found:
            found.append((ns, svc))

    for key in (TAG_SVC_STACK, TAG_INTREE_SERVICE):
        ns, sep, svc = (tags.get(key) or "").partition("/")
        if sep:
            add(ns, svc)
    ns, sep, rest = (tags.get(TAG_SVC_RESOURCE) or "").partition("/")
    if sep and ":" in rest:
        add(ns, rest.rpartition(":")[0])
    ing_res = tags.get(TAG_ING_RESOURCE) or ""
    ns, sep, rest = ing_res.partition("/")
    if sep and ":" in rest:
        ing_svc = rest.rpartition(":")[0]  # <ingress>-<service>; both may contain '-'
        matched = False
        for ing in ingresses:
            m = meta(ing)
            if m.get("namespace") != ns:
                continue
            prefix = f"{m.get('name')}-"
            if ing_svc.startswith(prefix) and ing_svc[len(prefix) :] in ingress_services(ing):
                add(ns, ing_svc[len(prefix) :])
                matched = True
        if not matched:
            # Without the Ingress object the split is ambiguous; the controller names the
            # Ingress after the stack tag when the group is implicit (ns/ingress).
            stack_ns, _, ing_name = (tags.get(TAG_ING_STACK) or "").partition("/")
            if stack_ns == ns and ing_name and ing_svc.startswith(ing_name + "-"):
                add(ns, ing_svc[len(ing_name) + 1 :])
    return found


def services_for_target_group(
    tg_arn: str,
    tags: dict[str, dict[str, str]] | dict[str, str] | None,
    tgbs: Iterable[dict[str, Any]] = (),
    ingresses: Iterable[dict[str, Any]] = (),
) -> list[tuple[str, str]]:
    """The (namespace, service) pairs a target group serves, for an alarm's TargetGroup dimension.

    `tags` is either the tags of this target group ({key: value}) or a map ARN -> tags as in
    `AwsState.tags`. TargetGroupBindings win; tags are the fallback.
    """
    found: list[tuple[str, str]] = []
    for b in tgbs:
        if tgb_arn(b) == tg_arn:
            ns = meta(b).get("namespace") or ""
            svc = ((b.get("spec") or {}).get("serviceRef") or {}).get("name") or ""
            if ns and svc and (ns, svc) not in found:
                found.append((ns, svc))
    if found:
        return found
    tags = tags or {}
    own = tags.get(tg_arn) if isinstance(tags.get(tg_arn), dict) else None
    if own is None and all(isinstance(v, str) for v in tags.values()):
        own = tags  # already this group's tags
    return services_from_tags(own or {}, list(ingresses))


def tg_arn_from_dimension(dimension: str, region: str, account: str) -> str | None:
    """`targetgroup/<name>/<hex>` (CloudWatch dimension) -> the full target group ARN."""
    if not dimension.startswith("targetgroup/") or not region or not account:
        return None
    partition = (
        "aws-cn" if region.startswith("cn-") else ("aws-us-gov" if region.startswith("us-gov-") else "aws")
    )
    return f"arn:{partition}:elasticloadbalancing:{region}:{account}:{dimension}"


# ---- the Service's load balancers and target groups in collected state --------------------


def ingress_names(state: State) -> list[str]:
    return [meta(i).get("name") or "" for i in state.ingresses]


def wanted_lb_names(state: State) -> list[tuple[str, str]]:
    """(LB name, where it came from) for the Service's and its Ingresses' status hostnames."""
    out: list[tuple[str, str]] = []
    for host in status_hostnames(state.service):
        name = lb_name_from_hostname(host)
        if name and name not in [n for n, _ in out]:
            out.append((name, f"Service status hostname {host}"))
    for ing in state.ingresses:
        for host in status_hostnames(ing):
            name = lb_name_from_hostname(host)
            if name and name not in [n for n, _ in out]:
                out.append((name, f"Ingress {meta(ing).get('name')} status hostname {host}"))
    return out


def _bound_or_tagged(state: State) -> list[tuple[dict[str, Any], str]]:
    tgs = [tg for tg in state.aws.target_groups if isinstance(tg, dict)]
    by_arn = {as_str(tg.get("TargetGroupArn")): tg for tg in tgs}
    out: list[tuple[dict[str, Any], str]] = []
    seen: set[str] = set()
    for b in service_tgbs(state):
        tg = by_arn.get(tgb_arn(b))
        if tg is None and tgb_name(b):
            tg = next((t for t in tgs if t.get("TargetGroupName") == tgb_name(b)), None)
        if tg is not None and tg.get("TargetGroupArn") not in seen:
            seen.add(tg.get("TargetGroupArn"))
            out.append((tg, f"TargetGroupBinding {meta(b).get('name')}"))
    for arn in state.options.get("aws_target_groups") or []:
        tg = by_arn.get(arn)
        if tg is not None and arn not in seen:
            seen.add(arn)
            out.append((tg, "the alarm's TargetGroup dimension"))
    ings = ingress_names(state)
    for tg in tgs:
        arn = as_str(tg.get("TargetGroupArn"))
        if arn in seen:
            continue
        how = tag_match(state.aws.tags.get(arn), state.target.namespace, state.target.service, ings)
        if how:
            seen.add(arn)
            out.append((tg, how))
    return out


def _lbs_by_hostname(state: State) -> list[dict[str, Any]]:
    names = {n for n, _ in wanted_lb_names(state)}
    hosts = {h.lower() for h in status_hostnames(state.service)}
    for ing in state.ingresses:
        hosts |= {h.lower() for h in status_hostnames(ing)}
    return [
        lb
        for lb in state.aws.load_balancers
        if isinstance(lb, dict)
        and (as_str(lb.get("LoadBalancerName")) in names or as_str(lb.get("DNSName")).lower() in hosts)
    ]


def service_target_groups(state: State) -> list[tuple[dict[str, Any], str]]:
    """The Service's target groups among those collected, each with how it was matched.

    A dump may hold target groups of other Services, so untagged groups count only when
    they hang off the load balancer the status hostname names, or when they are all there is.
    """
    tgs = [tg for tg in state.aws.target_groups if isinstance(tg, dict)]
    if not tgs:
        return []
    out = _bound_or_tagged(state)
    if out:
        return out
    lb_arns = {as_str(lb.get("LoadBalancerArn")) for lb in _lbs_by_hostname(state)}
    on_lb = [
        tg
        for tg in tgs
        if lb_arns & {a for a in as_list(tg.get("LoadBalancerArns")) if isinstance(a, str)}
        and not services_from_tags(state.aws.tags.get(as_str(tg.get("TargetGroupArn"))), state.k8s.of_kind("Ingress"))
    ]
    if on_lb:
        return [(tg, "attached to the load balancer named by the status hostname") for tg in on_lb]
    if not any(state.aws.tags.get(as_str(tg.get("TargetGroupArn"))) for tg in tgs) and not state.aws.load_balancers:
        return [(tg, "the only target groups collected") for tg in tgs]
    return []


def service_load_balancers(state: State) -> list[dict[str, Any]]:
    """Load balancers named by the status hostnames, or those the Service's target groups hang off."""
    chosen = _lbs_by_hostname(state)
    if chosen:
        return chosen
    arns: set[str] = set()
    for tg, _how in service_target_groups(state):
        arns |= set(tg.get("LoadBalancerArns") or [])
    return [lb for lb in state.aws.load_balancers if lb.get("LoadBalancerArn") in arns]


def lb_for_target_group(state: State, tg: dict[str, Any]) -> dict[str, Any] | None:
    arns = set(tg.get("LoadBalancerArns") or [])
    return next((lb for lb in state.aws.load_balancers if lb.get("LoadBalancerArn") in arns), None)


# Target health reasons a network path (not the app) explains: the probe got no answer in time.
NETWORK_REASONS = ("Target.Timeout", "Target.FailedHealthChecks")


def instance_id_of_node(node: dict[str, Any] | None) -> str | None:
    pid = ((node or {}).get("spec") or {}).get("providerID") or ""
    if not pid.startswith("aws://"):
        return None
    last = pid.rsplit("/", 1)[-1]
    return last if last.startswith("i-") else None
