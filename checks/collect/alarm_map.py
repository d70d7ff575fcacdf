"""From an alarm's load balancer back to the Kubernetes Service(s): the reads mapping needs.

AWS (CloudWatch `TargetGroup` dimension -> target group ARN):
  1. TargetGroupBindings cluster-wide (elbv2.k8s.aws/v1beta1, one LIST) whose spec.targetGroupARN
     is the alarm's: the AWS Load Balancer Controller makes one per Service port / Ingress backend;
  2. else the target group's tags (elbv2 DescribeTags, one call): service.k8s.aws/stack|resource,
     ingress.k8s.aws/stack|resource (=> the Ingress, read once, => its backend Service), the in-tree
     kubernetes.io/service-name.
Tencent (callback VIP / listener port): DescribeLoadBalancers(LoadBalancerIds | LoadBalancerVips),
  then the Services cluster-wide (one LIST) whose service.kubernetes.io/loadbalance-id annotation,
  status ingress IP or TKE uuid tag matches (checks.providers.tencent.mapping), narrowed by the listener port;
  Ingresses on the CLB lead to their backend Services.

The pure matching lives in checks/providers/aws/mapping.py and checks/providers/tencent/mapping.py; this module only
reads. Every failure becomes a sentence in `why` (the diagnosis still runs the cloud-side checks on
the load balancer and says why no Service was found). Offline clusters (config `sources`: dump
files) are read from the dumps instead of APIs.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from checks.providers.aws.mapping import TAG_ING_RESOURCE, TAG_ING_STACK, services_for_target_group
from checks.providers.tencent import mapping as tcmap
from checks.state import ingress_services, meta

log = logging.getLogger(__name__)

TGB = ("elbv2.k8s.aws", "v1beta1", "targetgroupbindings")
CLUSTER_TAG = "elbv2.k8s.aws/cluster"


@dataclass
class AlarmMapping:
    services: list[str] = field(default_factory=list)  # "namespace/name"
    cluster: str | None = None  # the configured cluster they were found in
    how: str = ""  # "TargetGroupBinding shop/k8s-shop-web-1a2b3c", "tag service.k8s.aws/stack=shop/web", ...
    why: str | None = None  # why no Service was found (None when found)
    lb: dict[str, Any] = field(default_factory=dict)  # what the cloud-side checks need (State.options)
    api_calls: Counter = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        return {"services": list(self.services), "cluster": self.cluster, "how": self.how, "why": self.why, "lb": dict(self.lb),
                "api_calls": dict(self.api_calls)}


@dataclass
class ClusterRef:
    """Where to look: a configured cluster (kube context, or offline dump sources)."""

    name: str | None = None
    context: str | None = None
    sources: list[str] = field(default_factory=list)
    cloud: str | None = None
    region: str | None = None


# ---- client factories (tests inject their own; production uses the official clients) ---------------


class Clients:
    """Lazily built API clients; override any factory. Nothing here is called for offline clusters."""

    def __init__(
        self,
        kube: Callable[[str | None], Any] | None = None,
        elbv2: Callable[[str], Any] | None = None,
        clb: Callable[[str], Any] | None = None,
    ) -> None:
        self._kube = kube
        self._elbv2 = elbv2
        self._clb = clb
        self._cache: dict[tuple[str, str | None], Any] = {}
        self._lock = threading.Lock()

    def _cached(self, kind: str, key: str | None, build: Callable[[], Any]) -> Any:
        """One client per (kind, context/region) for the life of this object (they are thread-safe)."""
        with self._lock:
            hit = self._cache.get((kind, key))
        if hit is not None:
            return hit
        made = build()
        with self._lock:
            return self._cache.setdefault((kind, key), made)

    def kube(self, context: str | None) -> Any:
        if self._kube:
            return self._kube(context)
        return self._cached("kube", context, lambda: _kube_client(context))

    def elbv2(self, region: str) -> Any:
        if self._elbv2:
            return self._elbv2(region)
        return self._cached("elbv2", region, lambda: _elbv2_client(region))

    def clb(self, region: str) -> Any:
        if self._clb:
            return self._clb(region)
        return self._cached("clb", region, lambda: _clb_client(region))


def _kube_client(context: str | None) -> Any:
    from kubernetes import client, config

    try:
        return config.new_client_from_config(context=context)
    except config.ConfigException:
        config.load_incluster_config()
        return client.ApiClient()


def _elbv2_client(region: str) -> Any:
    """boto3 with standard retries; AWS_ENDPOINT_URL and the other AWS_* variables apply."""
    import boto3
    from botocore.config import Config

    return boto3.client("elbv2", region_name=region, config=Config(retries={"mode": "standard", "max_attempts": 5},
                                                                   connect_timeout=3, read_timeout=10))


def _clb_client(region: str) -> Any:
    """The Tencent SDK; LBHEALTH_TENCENT_ENDPOINT (http://host:port or host) overrides the endpoint."""
    from tencentcloud.clb.v20180317 import clb_client
    from tencentcloud.common import credential
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile

    endpoint = os.environ.get("LBHEALTH_TENCENT_ENDPOINT")
    http = HttpProfile(reqTimeout=10)
    if endpoint:
        scheme, _, host = endpoint.rpartition("://")
        http = HttpProfile(protocol=scheme or "https", endpoint=host, reqTimeout=10)
    cred = credential.Credential(os.environ.get("TENCENTCLOUD_SECRET_ID", ""), os.environ.get("TENCENTCLOUD_SECRET_KEY", ""))
    return clb_client.ClbClient(cred, region, ClientProfile(httpProfile=http))


# ---- reading Kubernetes objects: live or from dumps --------------------------------------------------


class _Kube:
    def __init__(self, cluster: ClusterRef, clients: Clients, calls: Counter) -> None:
        self.cluster = cluster
        self.clients = clients
        self.calls = calls
        self._api = None
        self._offline: list[dict[str, Any]] | None = None
        if cluster.sources:
            from checks.collect import dump
            from checks.model import Target

            state = dump.load_state(Target("default", "x"), list(cluster.sources), options={"offline": True})
            self._offline = state.k8s.all_objects()
            self.offline_state = state

    @property
    def api(self) -> Any:
        if self._api is None:
            self._api = self.clients.kube(self.cluster.context)
        return self._api

    def _of_kind(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        return [o for o in self._offline or [] if o.get("kind") == kind and (namespace is None or meta(o).get("namespace") == namespace)]

    def target_group_bindings(self) -> list[dict[str, Any]]:
        if self._offline is not None:
            return self._of_kind("TargetGroupBinding")
        from kubernetes import client

        self.calls["k8s"] += 1
        try:
            res = client.CustomObjectsApi(self.api).list_cluster_custom_object(*TGB)
        except client.ApiException as exc:
            if exc.status == 404:
                return []  # no AWS Load Balancer Controller CRD in this cluster
            raise
        return list(res.get("items") or [])

    def ingresses(self, namespace: str | None) -> list[dict[str, Any]]:
        if self._offline is not None:
            return self._of_kind("Ingress", namespace)
        from kubernetes import client

        self.calls["k8s"] += 1
        api = client.NetworkingV1Api(self.api)
        res = api.list_namespaced_ingress(namespace, _preload_content=False) if namespace else api.list_ingress_for_all_namespaces(_preload_content=False)
        return _items(res, "Ingress")

    def services(self) -> list[dict[str, Any]]:
        if self._offline is not None:
            return self._of_kind("Service")
        from kubernetes import client

        self.calls["k8s"] += 1
        res = client.CoreV1Api(self.api).list_service_for_all_namespaces(_preload_content=False)
        return _items(res, "Service")


def _items(resp: Any, kind: str) -> list[dict[str, Any]]:
    """Raw JSON LIST (camelCase, as kubectl prints it), each item with its kind."""
    import json

    data = json.loads(resp.data)
    items = data.get("items") or []
    for i in items:
        i.setdefault("kind", kind)
    return items


def _fmt(pairs: Iterable[tuple[str, str]]) -> list[str]:
    return [f"{ns}/{name}" for ns, name in pairs]


# ---- AWS -------------------------------------------------------------------------------------------


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
    clusters = [c for c in (clusters or [ClusterRef()]) if c.cloud in (None, "aws")] or [ClusterRef()]
    tags: dict[str, dict[str, str]] | None = None
    tag_error: str | None = None
    reasons: list[str] = []
    for cluster in clusters:
        try:
            kube = _Kube(cluster, clients, out.api_calls)
        except Exception as exc:
            reasons.append(f"cluster {cluster.name or '(current context)'}: unreadable ({exc})")
            continue
        # 1. TargetGroupBindings
        try:
            tgbs = kube.target_group_bindings()
        except Exception as exc:
            tgbs = []
            reasons.append(f"cluster {cluster.name or '(current)'}: TargetGroupBindings not readable ({_short(exc)})")
        for arn in target_groups:
            found = services_for_target_group(arn, {}, tgbs)
            if found:
                binding = next(b for b in tgbs if (b.get("spec") or {}).get("targetGroupARN") == arn)
                out.services = _fmt(found)
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
                    reasons.append(f"Ingresses in {ns} not readable ({_short(exc)})")
            found = services_for_target_group(arn, own, (), ingresses)
            if found:
                out.services = _fmt(found)
                out.cluster = cluster.name
                key = next((k for k in ("service.k8s.aws/stack", "service.k8s.aws/resource", TAG_ING_RESOURCE, "kubernetes.io/service-name") if own.get(k)), "")
                out.how = f"target group tag {key}={own.get(key)}" + (f", Ingress {ingresses and meta(ingresses[0]).get('name')}" if key == TAG_ING_RESOURCE and ingresses else "")
                if own.get(CLUSTER_TAG):
                    out.lb["aws_cluster_tag"] = own[CLUSTER_TAG]
                return out
    names = ", ".join(a.rsplit(":", 1)[-1] for a in target_groups)
    named = [c for c in clusters if c.name]
    if len(named) == 1:
        out.cluster = named[0].name  # the one cluster it can be in: diagnose the cloud side from there
    if tag_error:
        reasons.insert(0, tag_error)
    elif tags is not None:
        reasons.insert(0, f"{names} has no TargetGroupBinding in the cluster and none of the tags service.k8s.aws/stack, "
                          "service.k8s.aws/resource, ingress.k8s.aws/resource, kubernetes.io/service-name "
                          "(not created by the AWS Load Balancer Controller or the in-tree controller?)")
    out.why = "; ".join(reasons) or f"no Service found for {names}"
    return out


def _aws_tags(arns: list[str], region: str | None, clients: Clients, calls: Counter, offline: _Kube | None) -> tuple[dict[str, dict[str, str]] | None, str | None]:
    if offline is not None:
        tags = offline.offline_state.aws.tags
        if any(a in tags for a in arns):
            return {a: tags.get(a) or {} for a in arns}, None
        return None, "the dump has no `aws elbv2 describe-tags` output for the target group"
    if not region:
        return None, "the alarm does not say its region"
    try:
        calls["aws"] += 1
        resp = clients.elbv2(region).describe_tags(ResourceArns=list(arns)[:20])
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code") if hasattr(exc, "response") else None
        if code in ("TargetGroupNotFound", "LoadBalancerNotFound"):
            return None, f"target group {arns[0].rsplit(':', 1)[-1]} does not exist (deleted since the alarm was made?)"
        if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
            return None, "elasticloadbalancing:DescribeTags is not allowed for the bot's IAM role"
        return None, f"DescribeTags failed: {_short(exc)}"
    tags = {d["ResourceArn"]: {t["Key"]: t.get("Value", "") for t in d.get("Tags") or []} for d in resp.get("TagDescriptions") or []}
    if not any(a in tags for a in arns):
        return None, f"target group {arns[0].rsplit(':', 1)[-1]} does not exist (deleted since the alarm was made?)"
    return tags, None


# ---- Tencent ---------------------------------------------------------------------------------------


def map_tencent(
    *,
    vip: str | None,
    port: int | None,
    protocol: str | None = None,
    lb_id: str | None = None,
    region: str | None,
    clusters: list[ClusterRef] | None = None,
    clients: Clients | None = None,
) -> AlarmMapping:
    clients = clients or Clients()
    out = AlarmMapping(lb={"tencent_lb": {"id": lb_id, "vip": vip, "port": port, "protocol": protocol, "region": region}})
    clusters = [c for c in (clusters or [ClusterRef()]) if c.cloud in (None, "tencent")] or [ClusterRef()]
    lb: dict[str, Any] | None = None
    reasons: list[str] = []
    for cluster in clusters:
        try:
            kube = _Kube(cluster, clients, out.api_calls)
        except Exception as exc:
            reasons.append(f"cluster {cluster.name or '(current context)'}: unreadable ({exc})")
            continue
        if lb is None:
            lb, err = _clb(vip, lb_id, region or cluster.region, clients, out.api_calls, kube if cluster.sources else None)
            if err:
                reasons.append(err)
                if not cluster.sources:
                    break
                continue
            out.lb["tencent_lb"]["id"] = lb.get("LoadBalancerId")
            out.lb["tencent_lb"]["name"] = lb.get("LoadBalancerName")
        try:
            services = kube.services()
        except Exception as exc:
            reasons.append(f"cluster {cluster.name or '(current)'}: Services not readable ({_short(exc)})")
            continue
        found = tcmap.services_for_clb(lb, services, port)
        if found:
            svc = next(s for s in services if (meta(s).get("namespace"), meta(s).get("name")) == found[0])
            out.services, out.cluster = _fmt(found), cluster.name
            out.how = (tcmap.match_reasons(lb, svc) or ["CLB match"])[0]
            return out
        try:
            all_ings = kube.ingresses(None)  # one LIST; only when no Service matched
        except Exception:
            all_ings = []
        by_name = {(meta(i).get("namespace"), meta(i).get("name")): i for i in all_ings}
        ings = tcmap.ingresses_for_clb(lb, all_ings)
        names = [(ns, svc_name) for ns, name in ings for svc_name in sorted(ingress_services(by_name.get((ns, name)) or {}))]
        if names:
            out.services, out.cluster = _fmt(names), cluster.name
            out.how = f"Ingress {ings[0][0]}/{ings[0][1]} on the CLB"
            return out
        reasons.append(f"no Service in cluster {cluster.name or '(current)'} has service.kubernetes.io/loadbalance-id="
                       f"{lb.get('LoadBalancerId')} or the VIP {', '.join(tcmap.lb_vips(lb))} as its ingress IP")
    named = [c for c in clusters if c.name]
    if len(named) == 1:
        out.cluster = named[0].name
    out.why = "; ".join(reasons) or "no Service found"
    return out


def _clb(vip, lb_id, region, clients: Clients, calls: Counter, offline: _Kube | None) -> tuple[dict[str, Any] | None, str | None]:
    if offline is not None:
        lbs = offline.offline_state.tencent.load_balancers
        for lb in lbs:
            if (lb_id and lb.get("LoadBalancerId") == lb_id) or (vip and vip in tcmap.lb_vips(lb)):
                return lb, None
        return None, f"the dump has no CLB {lb_id or vip}"
    if not region:
        return None, "the callback does not say the region of the CLB"
    import json

    from tencentcloud.clb.v20180317 import models

    req = models.DescribeLoadBalancersRequest()
    req.from_json_string(json.dumps({"LoadBalancerIds": [lb_id]} if lb_id else {"LoadBalancerVips": [vip]}))
    try:
        calls["tencent"] += 1
        resp = clients.clb(region).DescribeLoadBalancers(req)
    except Exception as exc:
        return None, f"DescribeLoadBalancers({lb_id or vip}) failed: {_short(exc)}"
    lbs = json.loads(resp.to_json_string()).get("LoadBalancerSet") or []
    if not lbs:
        return None, f"no CLB with {'id ' + lb_id if lb_id else 'VIP ' + str(vip)} in {region}"
    return lbs[0], None


def _short(exc: Exception) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) < 200 else text[:199] + "…"


def clusters_from_config(cfg: Any) -> list[ClusterRef]:
    """ClusterRefs from bot.settings FileConfig.clusters (duck-typed: checks/ does not import bot/)."""
    refs = []
    for c in getattr(cfg, "clusters", None) or []:
        refs.append(ClusterRef(name=c.name, context=c.context, sources=list(c.sources or []), cloud=c.cloud, region=c.region))
    return refs
