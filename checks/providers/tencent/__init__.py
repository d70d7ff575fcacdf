"""Tencent Cloud: CLBs made by TKE's service and ingress controllers.

The load-balancer views read the CLB listeners as tccli prints them; without them, the CLB's
documented defaults.
"""

from __future__ import annotations

from typing import Any

from checks.providers.base import HealthCheck, ProbeSource, Source, cidr
from checks.state import State, TencentState, annotations
from checks.values import as_dict, as_float, as_int, as_list, as_str

TENCENT_PROBE_RANGE = "100.64.0.0/10"
# DescribeSecurityGroupPolicies does not print the group's ID; --filter (JMESPath) adds it, so the
# saved file says which group it describes without editing it by hand.
SG_POLICIES_DUMP = (
    "tccli vpc DescribeSecurityGroupPolicies{region} --SecurityGroupId <sg-id>"
    " --filter \"{{SecurityGroupId: '<sg-id>', SecurityGroupPolicySet: SecurityGroupPolicySet}}\""
)
TENCENT_READS = ("tencent.clb", "tencent.target_health", "tencent.vpc_network", "tencent.instances")


def tencent_direct_access(state: State) -> bool:
    ann = state.service_annotations
    if ann.get("service.cloud.tencent.com/direct-access", "").lower() == "true":
        return True
    return any(
        annotations(i).get("ingress.cloud.tencent.com/direct-access", "").lower() == "true"
        for i in state.ingresses
    )


def clb_httpcode_to_spec(mask: int | None) -> str:
    """CLB HttpCode bitmask (1=1xx, 2=2xx, 4=3xx, 8=4xx, 16=5xx) as AWS-style ranges."""
    mask = 31 if mask is None else int(mask)
    parts = [f"{c}00-{c}99" for bit, c in ((1, 1), (2, 2), (4, 3), (8, 4), (16, 5)) if mask & bit]
    return ",".join(parts)


def _listener_check(lb_id: str, lst: dict[str, Any], protocol: str, hc: dict[str, Any],
                    rule: dict[str, Any], direct: bool) -> HealthCheck:
    check_type = as_str(hc.get("CheckType"), "HTTP" if protocol in ("HTTP", "HTTPS") else "TCP").upper()
    port = hc.get("CheckPort")
    mask = hc.get("HttpCode")
    return HealthCheck(
        source=f"CLB {lb_id} listener {as_str(lst.get('ListenerId'), '?')} ({protocol}:{lst.get('Port')})"
        + (f" rule {as_str(rule.get('Domain'))}{as_str(rule.get('Url'))}" if rule else ""),
        protocol=check_type,
        port=str(port) if isinstance(port, int) and port > 0 else "traffic-port",
        path=as_str(hc.get("HttpCheckPath")) or ("/" if check_type.startswith("HTTP") else ""),
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


def _source_types(state: State) -> tuple[bool, set[str]]:
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


class Tencent:
    name = "tencent"
    title = "Tencent Cloud"
    collector = "checks.collect.tencent"
    dump_module = "checks.collect.tencent_dump"
    shapes_module = "checks.collect.tencent_shapes"
    dump_tool = "tccli"
    annotation_prefixes = (
        "service.kubernetes.io/loadbalance",
        "service.cloud.tencent.com/",
        "service.kubernetes.io/tke-",
        "service.kubernetes.io/qcloud",
    )
    ingress_classes = ("qcloud",)
    ingress_annotation_prefixes = ("ingress.cloud.tencent.com/",)
    lb_domains = (".tencentclb.com", ".clb.tencentcs.com", ".tencentcs.com")
    provider_id_prefixes = ("qcloud://", "tencentcloud://")
    dump_evidence = "Tencent CLB output (tccli clb) in the input"

    check_prefix = "TC"
    check_package = "checks.tencent"
    reads = TENCENT_READS
    lb_words = "CLB"
    alarm_mapper = "checks.collect.tencent_alarm_map"
    target_health_command = "Tencent: tccli clb DescribeTargetHealth --LoadBalancerIds '[\"<lb-id>\"]'"
    target_health_read = "tencent.target_health"
    sources = {
        "tencent.clb": Source(
            "the CLB and its listeners",
            ("tccli clb DescribeLoadBalancers{region} --LoadBalancerIds '[\"{lb}\"]'", "tccli clb DescribeListeners{region} --LoadBalancerId {lb}"),
            "CAM clb:DescribeLoadBalancers and clb:DescribeListeners",
        ),
        "tencent.target_health": Source(
            "the target health the CLB reports",
            ("tccli clb DescribeTargetHealth{region} --LoadBalancerIds '[\"{lb}\"]'",),
            "CAM clb:DescribeTargetHealth",
        ),
        "tencent.vpc_network": Source(
            "the backends' security groups, network interfaces and network ACLs",
            (
                SG_POLICIES_DUMP,
                "tccli vpc DescribeNetworkInterfaces{region}",
                "tccli vpc DescribeNetworkAcls{region}",
            ),
            "CAM vpc:DescribeSecurityGroupPolicies, vpc:DescribeNetworkInterfaces and vpc:DescribeNetworkAcls",
        ),
        "tencent.instances": Source(
            "the CVM instances behind the targets", ("tccli cvm DescribeInstances{region}",), "CAM cvm:DescribeInstances"
        ),
    }
    grantee = "the bot's Tencent Cloud credentials (deploy/cam-policy-read.json)"

    def command_fields(self, state: State) -> dict[str, str]:
        ann = state.service_annotations
        lbs = [lb.get("LoadBalancerId") for lb in state.tencent.load_balancers if lb.get("LoadBalancerId")]
        lb = (lbs[0] if lbs else None) or ann.get("service.kubernetes.io/loadbalance-id") or ann.get(
            "service.kubernetes.io/tke-existed-lbid"
        )
        return {"lb": lb or "<lb-id>"}

    def state_slice(self, state: State) -> TencentState:
        return state.tencent

    def lb_address(self, state: State, ip: str) -> str:
        """TKE publishes the CLB's VIP, not a hostname."""
        vips = (as_list(as_dict(lb).get("LoadBalancerVips")) for lb in state.tencent.load_balancers)
        return "a CLB VIP" if any(ip in v for v in vips) else ""

    def cluster_names(self, state: State) -> dict[str, str]:
        """Cluster names TKE tags its CLBs with (tke-clusterId)."""
        out: dict[str, str] = {}
        for lb in state.tencent.load_balancers:
            for tag in as_list(as_dict(lb).get("Tags")):
                if as_dict(tag).get("TagKey") == "tke-clusterId" and as_dict(tag).get("TagValue"):
                    out.setdefault(str(tag["TagValue"]), f"tag tke-clusterId on CLB {as_dict(lb).get('LoadBalancerId')}")
        return out

    def target_type(self, state: State) -> str:
        return "ip" if tencent_direct_access(state) else "instance"

    def health_checks(self, state: State) -> list[HealthCheck]:
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
                if protocol in ("HTTP", "HTTPS"):
                    hcs = [(as_dict(r.get("HealthCheck")), r) for r in as_list(lst.get("Rules")) if isinstance(r, dict)]
                else:
                    hcs = [(as_dict(lst.get("HealthCheck")), {})]
                out.extend(
                    _listener_check(lb_id, lst, protocol, hc, rule, direct)
                    for hc, rule in hcs
                    if hc.get("HealthSwitch", 1) != 0
                )
        return out

    def probe_sources(self, state: State) -> tuple[list[ProbeSource], str]:
        """100.64.0.0/10 (HealthCheck.SourceIpType 1, the default for new CLBs), or the CLB VIP for
        listeners with SourceIpType 0."""
        out: list[ProbeSource] = []
        range_used, vip_lbs = _source_types(state)
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
                    if (c := cidr(vip)) is not None:
                        out.append(ProbeSource(c, f"CLB {lb.get('LoadBalancerId')} VIP (SourceIpType 0)"))
        if vip_lbs:
            how.append("CLB SourceIpType 0 (the VIP)")
        return out, "; ".join(how)

    def target_health(self, state: State) -> tuple[int, int]:
        targets = [
            t
            for lb in state.tencent.target_health or []
            for listener in lb.get("Listeners") or []
            for rule in listener.get("Rules") or []
            for t in rule.get("Targets") or []
        ]
        return sum(1 for t in targets if t.get("HealthStatus") is True), len(targets)

    def settle_s(self, state: State) -> float:
        """Listener-level health checks only (layer-4 listeners; an HTTP listener's are per rule)."""
        spans = [
            float((li.get("HealthCheck") or {}).get("IntervalTime") or 0) * float((li.get("HealthCheck") or {}).get("HealthNum") or 0)
            for lis in state.tencent.listeners.values()
            for li in lis or []
        ]
        return max(spans, default=0.0)

    # -- Cloud Monitor alarms (a CLB, by id or VIP, and its listener) ---------------------------------
    def alarm_key(self, alarm: dict[str, Any]) -> str:
        lb = alarm.get("lb_id") or alarm.get("vip") or "?"
        port = alarm.get("port")
        listener = f"{port}/{(alarm.get('protocol') or '').lower()}" if port else "*"
        return f"tencent:{alarm.get('region') or ''}:{lb}:{listener}"

    def alarm_subject(self, alarm: dict[str, Any]) -> tuple[str, str]:
        lb = alarm.get("lb_id") or alarm.get("vip") or "CLB"
        port, protocol = alarm.get("port"), alarm.get("protocol")
        return "CLB", f"{lb} {protocol.upper() + ':' if protocol else ''}{port}" if port else lb

    def alarm_options(self, alarm: dict[str, Any]) -> dict[str, Any]:
        lb = {k: alarm.get(f) for k, f in (("id", "lb_id"), ("vip", "vip"), ("port", "port"), ("protocol", "protocol"), ("region", "region"))}
        return {"tencent_lb": lb, **({"tencent_region": alarm["region"]} if alarm.get("region") else {})}


PROVIDER = Tencent()
