"""Derived views of the load balancer: which cloud, which targets, and what its health check sends.

Several checks and the probe collector need the same answer to "what does the load balancer
actually probe, and where": read it once here, from the most authoritative source available
(the target group / CLB listener as read from the cloud, else the annotations and the
controller's documented defaults).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from checks.state import State, annotations
from checks.values import as_dict, as_float, as_int, as_list, as_str

SVC_ANN = "service.beta.kubernetes.io/aws-load-balancer-"
ALB_ANN = "alb.ingress.kubernetes.io/"


@dataclass(frozen=True)
class HealthCheck:
    """What the load balancer sends to a target to decide whether it is healthy."""

    source: str  # where this was read: "target group <arn>", "Service annotations", "CLB listener <id>"
    protocol: str  # HTTP | HTTPS | TCP | UDP | PING | GRPC
    port: str  # "traffic-port" or a number (as a string)
    path: str = ""
    host: str = ""
    success_codes: str = (
        "200"  # AWS matcher syntax: "200", "200,302", "200-399"; CLB mask rendered the same way
    )
    timeout_s: float = 5.0
    interval_s: float = 10.0
    healthy_threshold: int = 3
    unhealthy_threshold: int = 3
    target_type: str = "instance"  # instance | ip
    listener: str = ""  # CLB listener ID or target group ARN this belongs to


_TENCENT_SVC_ANN = (
    "service.kubernetes.io/loadbalance",
    "service.cloud.tencent.com/",
    "service.kubernetes.io/tke-",
    "service.kubernetes.io/qcloud",
)
_AWS_SVC_ANN = ("service.beta.kubernetes.io/aws-", "service.kubernetes.io/aws-")
_AWS_LB_DOMAINS = (".amazonaws.com", ".amazonaws.com.cn")
_TENCENT_LB_DOMAINS = (".tencentclb.com", ".clb.tencentcs.com", ".tencentcs.com")


def _ingress_cloud(ing: dict[str, Any]) -> str | None:
    ann = annotations(ing)
    ing_class = as_dict(ing.get("spec")).get("ingressClassName") or ann.get("kubernetes.io/ingress.class")
    if ing_class == "alb" or any(k.startswith(ALB_ANN) for k in ann):
        return "aws"
    if ing_class == "qcloud" or any(k.startswith("ingress.cloud.tencent.com/") for k in ann):
        return "tencent"
    return None


def service_cloud_evidence(state: State) -> Iterator[tuple[str, str]]:
    """(cloud, why) from the Service itself and its cluster, strongest first: annotations,
    Ingresses routing to it, the address its load balancer published, the nodes' providerIDs.
    Which cloud files happen to be in a dump says nothing about which cloud this Service is on.
    A generator: detect_cloud, called by many checks, stops at the first piece of evidence."""
    svc = state.service or {}
    for key in sorted(annotations(svc)):
        if key.startswith(_TENCENT_SVC_ANN):
            yield ("tencent", f"Service annotation {key}")
        elif key.startswith(_AWS_SVC_ANN):
            yield ("aws", f"Service annotation {key}")
    for ing in state.ingresses:
        cloud = _ingress_cloud(ing)
        if cloud:
            yield (cloud, f"Ingress {as_dict(ing.get('metadata')).get('name')} (class/annotations)")
    vips = {v for lb in state.tencent.load_balancers for v in as_list(as_dict(lb).get("LoadBalancerVips")) if isinstance(v, str)}
    lb_status = as_dict(as_dict(svc.get("status")).get("loadBalancer")).get("ingress")
    for entry in lb_status if isinstance(lb_status, list) else []:
        host, ip = as_str(as_dict(entry).get("hostname")), as_str(as_dict(entry).get("ip"))
        if host.endswith(_AWS_LB_DOMAINS):
            yield ("aws", f"Service status.loadBalancer.ingress hostname {host}")
        elif host.endswith(_TENCENT_LB_DOMAINS):
            yield ("tencent", f"Service status.loadBalancer.ingress hostname {host}")
        elif ip and ip in vips:
            yield ("tencent", f"Service status.loadBalancer.ingress IP {ip} is a CLB VIP in the input")
    for node in state.nodes:
        pid = as_str(as_dict(node.get("spec")).get("providerID"))
        name = as_dict(node.get("metadata")).get("name")
        if pid.startswith("aws://"):
            yield ("aws", f"node {name} providerID {pid}")
        elif pid.startswith(("qcloud://", "tencentcloud://")):
            yield ("tencent", f"node {name} providerID {pid}")


def detect_cloud(state: State) -> str | None:
    """'aws', 'tencent' or None for the Service diagnosed: what the caller knows (an alarm's source),
    then the Service's own evidence, and only without any, the cloud whose state was read."""
    forced = state.options.get("cloud")
    if forced:
        return forced
    first = next(service_cloud_evidence(state), None)
    if first:
        return first[0]
    if not state.aws.empty:
        return "aws"
    if not state.tencent.empty:
        return "tencent"
    return None


def cloud_conflicts(state: State) -> list[str]:
    """Warnings when the input mixes clouds or clusters: evidence for two clouds, or cloud state
    of a cloud other than the Service's (a dump of another cluster in the same directory)."""
    cloud = detect_cloud(state)
    seen: dict[str, str] = {}
    for c, why in service_cloud_evidence(state):
        seen.setdefault(c, why)
    if not state.aws.empty:
        seen.setdefault("aws", "AWS load balancer output (elbv2) in the input")
    if not state.tencent.empty:
        seen.setdefault("tencent", "Tencent CLB output (tccli clb) in the input")
    clusters = _cluster_names(state)
    notes = []
    if len(clusters) > 1:
        notes.append(
            "The input mixes clusters: " + "; ".join(f"{name} ({why})" for name, why in sorted(clusters.items()))
            + ". Give --from only the files of this Service's cluster, or the diagnosis may join objects of different clusters."
        )
    if len(seen) < 2 or cloud is None:
        return notes
    others = "; ".join(f"{c}: {why}" for c, why in seen.items() if c != cloud)
    basis = seen.get(cloud, "")
    return [
        f"The input mixes clouds or clusters. {state.target.ref} is diagnosed as {cloud} ({basis}); "
        f"ignored as belonging elsewhere: {others}. Give --from only the files of this Service's cluster to be sure."
    ] + notes


def _cluster_names(state: State) -> dict[str, str]:
    """Cluster names the input's cloud objects carry (the AWS Load Balancer Controller's and TKE's tags)."""
    out: dict[str, str] = {}
    for arn, tags in state.aws.tags.items():
        name = as_dict(tags).get("elbv2.k8s.aws/cluster")
        if name:
            out.setdefault(str(name), f"tag elbv2.k8s.aws/cluster on {str(arn).rsplit(':', 1)[-1]}")
    for lb in state.tencent.load_balancers:
        for tag in as_list(as_dict(lb).get("Tags")):
            if as_dict(tag).get("TagKey") == "tke-clusterId" and as_dict(tag).get("TagValue"):
                out.setdefault(str(tag["TagValue"]), f"tag tke-clusterId on CLB {as_dict(lb).get('LoadBalancerId')}")
    return out


def fronted_by_load_balancer(state: State) -> bool:
    """A cloud load balancer sends to this Service: type LoadBalancer, an Ingress or TargetGroupBinding
    routes to it, or its load balancer's state was read."""
    svc = state.service or {}
    if as_dict(svc.get("spec")).get("type") == "LoadBalancer" or state.ingresses:
        return True
    for tgb in state.k8s.of_kind("TargetGroupBinding", state.target.namespace):
        if as_dict(as_dict(tgb.get("spec")).get("serviceRef")).get("name") == state.target.service:
            return True
    return not (state.aws.empty and state.tencent.empty)


def aws_target_type(state: State) -> str:
    """`ip` or `instance` for the Service's NLB (absent annotation means instance, as the seed says)."""
    for tg in state.aws.target_groups:
        if isinstance(tg, dict) and tg.get("TargetType") in ("ip", "instance"):
            return tg["TargetType"]
    ann = state.service_annotations
    if ann.get(SVC_ANN + "type") == "nlb-ip":
        return "ip"
    tt = ann.get(SVC_ANN + "nlb-target-type")
    if tt:
        return tt.strip().lower()
    for ing in state.ingresses:
        tt = annotations(ing).get(ALB_ANN + "target-type")
        if tt:
            return tt.strip().lower()
    return "instance"


def tencent_direct_access(state: State) -> bool:
    ann = state.service_annotations
    if ann.get("service.cloud.tencent.com/direct-access", "").lower() == "true":
        return True
    return any(
        annotations(i).get("ingress.cloud.tencent.com/direct-access", "").lower() == "true"
        for i in state.ingresses
    )


def target_type(state: State) -> str:
    cloud = detect_cloud(state)
    if cloud == "tencent":
        return "ip" if tencent_direct_access(state) else "instance"
    return aws_target_type(state)


def external_traffic_local(state: State) -> bool:
    spec = (state.service or {}).get("spec") or {}
    return spec.get("externalTrafficPolicy") == "Local" and spec.get("type") == "LoadBalancer"


_CODE_RANGE = re.compile(r"^\s*(\d{3})\s*(?:-\s*(\d{3}))?\s*$")


def parse_success_codes(spec: str) -> list[tuple[int, int]] | None:
    """'200', '200,302', '200-399' -> [(lo, hi)]; None if the syntax is invalid."""
    ranges = []
    for part in as_str(spec).split(","):
        m = _CODE_RANGE.match(part)
        if not m:
            return None
        lo = int(m.group(1))
        hi = int(m.group(2) or lo)
        if hi < lo:
            return None
        ranges.append((lo, hi))
    return ranges or None


def code_accepted(spec: str, code: int) -> bool:
    ranges = parse_success_codes(spec) or []
    return any(lo <= code <= hi for lo, hi in ranges)


def clb_httpcode_to_spec(mask: int | None) -> str:
    """CLB HttpCode bitmask (1=1xx, 2=2xx, 4=3xx, 8=4xx, 16=5xx) as AWS-style ranges."""
    mask = 31 if mask is None else int(mask)
    parts = [f"{c}00-{c}99" for bit, c in ((1, 1), (2, 2), (4, 3), (8, 4), (16, 5)) if mask & bit]
    return ",".join(parts)


def _aws_from_target_group(state: State, tg: dict[str, Any]) -> HealthCheck:
    protocol = as_str(tg.get("HealthCheckProtocol"), "TCP").upper()
    port = tg.get("HealthCheckPort")
    return HealthCheck(
        source=f"target group {as_str(tg.get('TargetGroupName')) or as_str(tg.get('TargetGroupArn'), '?')}",
        protocol=protocol,
        port=str(port) if isinstance(port, (str, int)) and str(port) else "traffic-port",
        path=as_str(tg.get("HealthCheckPath")),
        success_codes=as_str(as_dict(tg.get("Matcher")).get("HttpCode"))
        or ("200" if protocol.startswith("HTTP") else ""),
        timeout_s=as_float(tg.get("HealthCheckTimeoutSeconds"), 5),
        interval_s=as_float(tg.get("HealthCheckIntervalSeconds"), 30),
        healthy_threshold=as_int(tg.get("HealthyThresholdCount"), 5),
        unhealthy_threshold=as_int(tg.get("UnhealthyThresholdCount"), 2),
        target_type=as_str(tg.get("TargetType")) or aws_target_type(state),
        listener=as_str(tg.get("TargetGroupArn")),
    )


def _aws_from_ingress(state: State, ing: dict[str, Any]) -> HealthCheck:
    ann = annotations(ing)
    protocol = (ann.get(ALB_ANN + "healthcheck-protocol") or "HTTP").upper()
    return HealthCheck(
        source=f"Ingress {ing['metadata'].get('namespace')}/{ing['metadata'].get('name')} annotations (controller defaults where absent)",
        protocol=protocol,
        port=ann.get(ALB_ANN + "healthcheck-port") or "traffic-port",
        path=ann.get(ALB_ANN + "healthcheck-path") or "/",
        success_codes=ann.get(ALB_ANN + "success-codes") or "200",
        timeout_s=float(as_int(ann.get(ALB_ANN + "healthcheck-timeout-seconds"), 5)),
        interval_s=float(as_int(ann.get(ALB_ANN + "healthcheck-interval-seconds"), 15)),
        healthy_threshold=as_int(ann.get(ALB_ANN + "healthy-threshold-count"), 2),
        unhealthy_threshold=as_int(ann.get(ALB_ANN + "unhealthy-threshold-count"), 2),
        target_type=(ann.get(ALB_ANN + "target-type") or "instance").lower(),
    )


def _aws_from_service(state: State) -> HealthCheck:
    ann = state.service_annotations
    spec = (state.service or {}).get("spec") or {}
    local = external_traffic_local(state)
    lbc = is_lbc_service(state)
    default_protocol = "HTTP" if local else "TCP"
    protocol = (ann.get(SVC_ANN + "healthcheck-protocol") or default_protocol).upper()
    port = ann.get(SVC_ANN + "healthcheck-port") or "traffic-port"
    if local and not ann.get(SVC_ANN + "healthcheck-port") and spec.get("healthCheckNodePort"):
        port = str(spec["healthCheckNodePort"])
    default_path = "/healthz" if local else "/"
    return HealthCheck(
        source="Service annotations ("
        + ("AWS Load Balancer Controller" if lbc else "in-tree cloud provider")
        + " defaults where absent)",
        protocol=protocol,
        port=port,
        path=(ann.get(SVC_ANN + "healthcheck-path") or default_path) if protocol.startswith("HTTP") else "",
        success_codes=ann.get(SVC_ANN + "healthcheck-success-codes")
        or ("200-399" if protocol.startswith("HTTP") else ""),
        timeout_s=float(as_int(ann.get(SVC_ANN + "healthcheck-timeout"), 10 if lbc else 5)),
        interval_s=float(as_int(ann.get(SVC_ANN + "healthcheck-interval"), 10)),
        healthy_threshold=as_int(ann.get(SVC_ANN + "healthcheck-healthy-threshold"), 3 if lbc else 2),
        unhealthy_threshold=as_int(ann.get(SVC_ANN + "healthcheck-unhealthy-threshold"), 3 if lbc else 6),
        target_type=aws_target_type(state),
    )


def is_lbc_service(state: State) -> bool:
    """Does the AWS Load Balancer Controller (not the in-tree provider) own this Service's NLB?"""
    svc = state.service or {}
    spec = svc.get("spec") or {}
    if (spec.get("loadBalancerClass") or "").startswith("service.k8s.aws/"):
        return True
    lb_type = state.service_annotations.get(SVC_ANN + "type", "")
    return lb_type in ("external", "nlb-ip")


def _tencent_checks(state: State) -> list[HealthCheck]:
    out = []
    direct = tencent_direct_access(state)
    # On a CLB shared by several Services (tke-existed-lbid), only this Service's listeners.
    from checks.tencent._common import relevant_listeners

    mine = {(r.tied.lb_id, r.id) for r in relevant_listeners(state)}
    for lb_id, listeners in state.tencent.listeners.items():
        for lst in as_list(listeners):
            if not isinstance(lst, dict) or (mine and (lb_id, as_str(lst.get("ListenerId"))) not in mine):
                continue
            protocol = as_str(lst.get("Protocol")).upper()
            hcs: list[tuple[dict[str, Any], dict[str, Any]]] = []
            if protocol in ("HTTP", "HTTPS"):
                hcs = [(as_dict(r.get("HealthCheck")), r) for r in as_list(lst.get("Rules")) if isinstance(r, dict)]
            else:
                hcs = [(as_dict(lst.get("HealthCheck")), {})]
            for hc, rule in hcs:
                if hc.get("HealthSwitch", 1) == 0:
                    continue
                check_type = as_str(
                    hc.get("CheckType"), "HTTP" if protocol in ("HTTP", "HTTPS") else "TCP"
                ).upper()
                port = hc.get("CheckPort")
                mask = hc.get("HttpCode")
                out.append(
                    HealthCheck(
                        source=f"CLB {lb_id} listener {as_str(lst.get('ListenerId'), '?')} ({protocol}:{lst.get('Port')})"
                        + (f" rule {as_str(rule.get('Domain'))}{as_str(rule.get('Url'))}" if rule else ""),
                        protocol=check_type,
                        port=str(port) if isinstance(port, int) and port > 0 else "traffic-port",
                        path=as_str(hc.get("HttpCheckPath"))
                        or ("/" if check_type.startswith("HTTP") else ""),
                        host=as_str(hc.get("HttpCheckDomain")) or as_str(rule.get("Domain")),
                        success_codes=clb_httpcode_to_spec(mask if isinstance(mask, int) else None)
                        if check_type.startswith("HTTP")
                        else "",
                        timeout_s=as_float(hc.get("TimeOut"), 2),
                        interval_s=as_float(hc.get("IntervalTime"), 5),
                        healthy_threshold=as_int(hc.get("HealthNum"), 3),
                        unhealthy_threshold=as_int(hc.get("UnHealthNum"), 3),
                        target_type="ip" if direct else "instance",
                        listener=as_str(lst.get("ListenerId")),
                    )
                )
    return out


def health_checks(state: State) -> list[HealthCheck]:
    """Every health check the load balancer(s) in front of the Service run, best source first."""
    cloud = detect_cloud(state)
    if cloud == "tencent":
        return _tencent_checks(state)
    if cloud != "aws":
        return []
    if state.aws.target_groups:
        return [_aws_from_target_group(state, tg) for tg in state.aws.target_groups if isinstance(tg, dict)]
    if state.ingresses:
        return [_aws_from_ingress(state, i) for i in state.ingresses]
    if ((state.service or {}).get("spec") or {}).get("type") == "LoadBalancer":
        return [_aws_from_service(state)]
    return []


# ---- where the health checks come from -------------------------------------------------------

TENCENT_PROBE_RANGE = "100.64.0.0/10"


@dataclass(frozen=True)
class ProbeSource:
    """A source network of the load balancer's health checks."""

    cidr: str
    label: str


def _cidr(value: Any) -> str | None:
    import ipaddress

    try:
        return str(ipaddress.ip_network(str(value).strip(), strict=False))
    except ValueError:
        return None


def _tencent_source_types(state: State) -> tuple[bool, set[str]]:
    """(some health check probes from 100.64.0.0/10, LB ids whose health checks probe from the VIP)."""
    range_used = not state.tencent.listeners  # listeners not read: the documented default
    vip_lbs: set[str] = set()
    for lb_id, listeners in state.tencent.listeners.items():
        for lst in listeners if isinstance(listeners, list) else []:
            if not isinstance(lst, dict):
                continue
            hcs = [lst.get("HealthCheck")] + [
                r.get("HealthCheck") for r in as_list(lst.get("Rules")) if isinstance(r, dict)
            ]
            for hc in hcs:
                if not isinstance(hc, dict) or not hc:
                    continue
                if str(hc.get("SourceIpType")) == "0":
                    vip_lbs.add(lb_id)
                else:
                    range_used = True
    return range_used or not vip_lbs, vip_lbs


def probe_sources(state: State) -> tuple[list[ProbeSource], str]:
    """The networks the load balancer's health checks come from, and how that is known ("" if unknown).

    Tencent CLB: 100.64.0.0/10 (HealthCheck.SourceIpType 1, the default for new CLBs), or the CLB VIP
    for listeners with SourceIpType 0. AWS: the load balancer's subnets when read, else the VPC CIDRs.
    """
    cloud = detect_cloud(state)
    out: list[ProbeSource] = []
    if cloud == "tencent":
        range_used, vip_lbs = _tencent_source_types(state)
        how = []
        if range_used:
            out.append(ProbeSource(TENCENT_PROBE_RANGE, "CLB health-check range (SourceIpType 1)"))
            how.append(
                "CLB SourceIpType 1"
                if state.tencent.listeners
                else "the CLB default for new instances; SourceIpType not read"
            )
        for lb in state.tencent.load_balancers:
            if isinstance(lb, dict) and as_str(lb.get("LoadBalancerId")) in vip_lbs:
                for vip in as_list(lb.get("LoadBalancerVips")):
                    if (c := _cidr(vip)) is not None:
                        out.append(ProbeSource(c, f"CLB {lb.get('LoadBalancerId')} VIP (SourceIpType 0)"))
        if vip_lbs:
            how.append("CLB SourceIpType 0 (the VIP)")
        return out, "; ".join(how)
    if cloud == "aws":
        subnets = {as_str(s.get("SubnetId")): s for s in state.aws.subnets if isinstance(s, dict)}
        for lb in state.aws.load_balancers:
            for az in as_list(lb.get("AvailabilityZones")) if isinstance(lb, dict) else []:
                sid = as_str(az.get("SubnetId")) if isinstance(az, dict) else ""
                if sid and (c := _cidr(as_dict(subnets.get(sid)).get("CidrBlock"))) is not None:
                    out.append(ProbeSource(c, f"load balancer subnet {sid}"))
        if out:
            return out, "the load balancer's subnets"
        for vpc in state.aws.vpcs:
            if not isinstance(vpc, dict):
                continue
            cidrs = [vpc.get("CidrBlock")] + [
                a.get("CidrBlock") for a in as_list(vpc.get("CidrBlockAssociationSet")) if isinstance(a, dict)
            ]
            for c in dict.fromkeys(x for x in map(_cidr, cidrs) if x):
                out.append(ProbeSource(c, f"VPC {vpc.get('VpcId')} CIDR"))
        return out, ("the VPC CIDR (the load balancer's subnets were not read)" if out else "")
    return [], ""


def ready_backends(state: State) -> int | None:
    """How many pods the Service selects are Ready (None when the pods were not read): with none,
    a load balancer that fails open still has nothing behind it that answers."""
    if state.why_not_read("k8s.pods") is not None:
        return None
    ready = 0
    for pod in state.selected_pods:
        conditions = as_list(as_dict(pod.get("status")).get("conditions"))
        if any(as_dict(c).get("type") == "Ready" and as_dict(c).get("status") == "True" for c in conditions):
            ready += 1
    return ready


def fail_open_consequence(state: State) -> str:
    """What fail-open means for requests right now, said without promising traffic that cannot flow."""
    ready = ready_backends(state)
    if ready == 0:
        return "but no pod of the Service is ready, so requests fail now: this is an outage, not a false alarm"
    if ready is None:
        return "requests still reach the targets; whether they succeed depends on the cause ranked first"
    return (
        f"requests still reach the targets ({ready} ready pod(s) behind them); they succeed only if the cause ranked first "
        "spares traffic (a wrong health-check path or code does; a blocked or closed port does not), and then the outage "
        "is latent, not a false alarm: the day one target really fails, nothing tells it apart"
    )
