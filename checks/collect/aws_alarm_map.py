"""The AWS provider's alarm mapping (checks/providers/aws `alarm_mapper`): a CloudWatch alarm's target
group -> the Kubernetes Service(s).

  1. TargetGroupBindings cluster-wide (elbv2.k8s.aws/v1beta1, one LIST) whose spec.targetGroupARN
     is the alarm's: the AWS Load Balancer Controller makes one per Service port / Ingress backend;
  2. else the target group's tags (elbv2 DescribeTags, one call): service.k8s.aws/stack|resource,
     ingress.k8s.aws/stack|resource (=> the Ingress, read once, => its backend Service), the in-tree
     kubernetes.io/service-name.

The pure matching is checks/providers/aws/mapping.py; the shared reads are checks.collect.alarm_map.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from checks.collect.alarm_map import AlarmMapping, Clients, ClusterRef, Kube, fmt, kubes, only_cluster, short
from checks.providers.aws.mapping import TAG_ING_RESOURCE, TAG_ING_STACK, services_for_target_group
from checks.state import meta

CLUSTER_TAG = "elbv2.k8s.aws/cluster"


def map_alarm(alarm: dict[str, Any], *, clusters: list[ClusterRef], clients: Clients) -> AlarmMapping:
    """checks.collect.alarm_map.map_alarm's entry for AWS: the alarm's target groups (Alarm.to_dict())."""
    return map_aws(list(alarm.get("target_groups") or []), region=alarm.get("region"),
                   load_balancer_arn=alarm.get("load_balancer_arn"), clusters=clusters, clients=clients)




def map_aws(
    target_groups: list[str],
    *,
    region: str | None,
    load_balancer_arn: str | None = None,
    clusters: list[ClusterRef] | None = None,
    clients: Clients | None = None,
) -> AlarmMapping:
    clients = clients or Clients()
    out = AlarmMapping(lb={"aws_target_groups": list(target_groups), "aws_region": region})
    if load_balancer_arn:
        out.lb["aws_load_balancer"] = load_balancer_arn
    if not target_groups:
        out.why = (f"the alarm names only the load balancer {load_balancer_arn}, not a target group, so it cannot be tied "
                   "to one Service (alarm on a TargetGroup dimension to get a Service diagnosis)")
        return out
    clusters = clusters or [ClusterRef()]
    tags: dict[str, dict[str, str]] | None = None
    tag_error: str | None = None
    reasons: list[str] = []
    for cluster, kube in kubes(clusters, clients, out.api_calls, reasons):
        # 1. TargetGroupBindings
        try:
            tgbs = kube.target_group_bindings()
        except Exception as exc:
            tgbs = []
            reasons.append(f"cluster {cluster.name or '(current)'}: TargetGroupBindings not readable ({short(exc)})")
        for arn in target_groups:
            found = services_for_target_group(arn, {}, tgbs)
            if found:
                binding = next(b for b in tgbs if (b.get("spec") or {}).get("targetGroupARN") == arn)
                out.services = fmt(found)
                out.cluster = cluster.name
                out.how = f"TargetGroupBinding {meta(binding).get('namespace')}/{meta(binding).get('name')}"
                return out
        # 2. tags (read once, whichever cluster we are looking at)
        if tags is None and tag_error is None:
            tags, tag_error = _aws_tags(target_groups, region, clients, out.api_calls, kube if cluster.sources else None)
        if tag_error:
            continue
        for arn in target_groups:
            own = (tags or {}).get(arn) or {}
            ingresses: list[dict[str, Any]] = []
            ing_res = own.get(TAG_ING_RESOURCE) or ""
            if ing_res or own.get(TAG_ING_STACK):
                ns = ing_res.partition("/")[0] if "/" in ing_res else (own.get(TAG_ING_STACK) or "").partition("/")[0]
                try:
                    ingresses = kube.ingresses(ns or None)
                except Exception as exc:
                    reasons.append(f"Ingresses in {ns} not readable ({short(exc)})")
            found = services_for_target_group(arn, own, (), ingresses)
            if found:
                out.services = fmt(found)
                out.cluster = cluster.name
                key = next((k for k in ("service.k8s.aws/stack", "service.k8s.aws/resource", TAG_ING_RESOURCE, "kubernetes.io/service-name") if own.get(k)), "")
                out.how = f"target group tag {key}={own.get(key)}" + (f", Ingress {ingresses and meta(ingresses[0]).get('name')}" if key == TAG_ING_RESOURCE and ingresses else "")
                if own.get(CLUSTER_TAG):
                    out.lb["aws_cluster_tag"] = own[CLUSTER_TAG]
                return out
    names = ", ".join(a.rsplit(":", 1)[-1] for a in target_groups)
    out.cluster = only_cluster(clusters)
    if tag_error:
        reasons.insert(0, tag_error)
    elif tags is not None:
        reasons.insert(0, f"{names} has no TargetGroupBinding in the cluster and none of the tags service.k8s.aws/stack, "
                          "service.k8s.aws/resource, ingress.k8s.aws/resource, kubernetes.io/service-name "
                          "(not created by the AWS Load Balancer Controller or the in-tree controller?)")
    out.why = "; ".join(reasons) or f"no Service found for {names}"
    return out


def _aws_tags(arns: list[str], region: str | None, clients: Clients, calls: Counter, offline: Kube | None) -> tuple[dict[str, dict[str, str]] | None, str | None]:
    if offline is not None:
        tags = offline.offline_state.aws.tags
        if any(a in tags for a in arns):
            return {a: tags.get(a) or {} for a in arns}, None
        return None, "the dump has no `aws elbv2 describe-tags` output for the target group"
    if not region:
        return None, "the alarm does not say its region"
    try:
        calls["aws"] += 1
        resp = clients.cloud("elbv2", region, _elbv2_client).describe_tags(ResourceArns=list(arns)[:20])
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code") if hasattr(exc, "response") else None
        if code in ("TargetGroupNotFound", "LoadBalancerNotFound"):
            return None, f"target group {arns[0].rsplit(':', 1)[-1]} does not exist (deleted since the alarm was made?)"
        if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
            return None, "elasticloadbalancing:DescribeTags is not allowed for the bot's IAM role"
        return None, f"DescribeTags failed: {short(exc)}"
    tags = {d["ResourceArn"]: {t["Key"]: t.get("Value", "") for t in d.get("Tags") or []} for d in resp.get("TagDescriptions") or []}
    if not any(a in tags for a in arns):
        return None, f"target group {arns[0].rsplit(':', 1)[-1]} does not exist (deleted since the alarm was made?)"
    return tags, None


def _elbv2_client(region: str) -> Any:
    """boto3 with standard retries; AWS_ENDPOINT_URL and the other AWS_* variables apply."""
    import boto3
    from botocore.config import Config

    return boto3.client("elbv2", region_name=region, config=Config(retries={"mode": "standard", "max_attempts": 5},
                                                                   connect_timeout=3, read_timeout=10))
