"""Shared views for the TC-* checks: which CLB, listeners, rules and targets belong to the
Service, the raw HealthCheck structs, the kube-proxy mode, and rule evaluation for security
groups and network ACLs. Pure functions over State; tolerant of odd input (ints as strings,
None, missing keys) because dump files come from many tccli versions.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from checks.providers.tencent import tencent_direct_access
from checks.providers.tencent.mapping import match_reasons
from checks.state import State, annotations, meta
from checks.values import as_int

VIP_SOURCE = 0
RANGE_SOURCE = 1
PROBE_RANGE = "100.64.0.0/10"
NODEPORT_RANGE = (30000, 32768)


# ---- coercion -----------------------------------------------------------------------------


def as_bool(value: Any) -> bool | None:
    """True/False from bools, 0/1, "true"/"false"; None when unknown."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value)
    if isinstance(value, str):
        v = value.strip().lower()
        if v in ("true", "1", "yes", "alive", "healthy"):
            return True
        if v in ("false", "0", "no", "dead", "unhealthy"):
            return False
    return None


def as_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, tuple):
        return list(value)
    return []


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def region_flag(state: State) -> str:
    return f" --region {state.tencent.region}" if state.tencent.region else ""


# ---- the Service's CLBs -------------------------------------------------------------------


@dataclass
class TiedLB:
    lb_id: str
    lb: dict[str, Any]  # the LoadBalancer as read ({} when only its id is known)
    reasons: list[str] = field(default_factory=list)
    via: str = "Service"  # Service | Ingress ns/name | unmatched

    @property
    def vips(self) -> list[str]:
        return [v for v in as_list(self.lb.get("LoadBalancerVips")) if isinstance(v, str)]

    @property
    def internal(self) -> bool:
        return str(self.lb.get("LoadBalancerType") or "").upper() == "INTERNAL"

    @property
    def label(self) -> str:
        vips = ",".join(self.vips)
        return f"CLB {self.lb_id}" + (f" (VIP {vips})" if vips else "")


def known_lb_ids(state: State) -> list[str]:
    ids: list[str] = []
    for item in list(as_list(state.tencent.load_balancers)) + list(as_list(state.tencent.target_health)):
        lb_id = as_dict(item).get("LoadBalancerId")
        if isinstance(lb_id, str) and lb_id and lb_id not in ids:
            ids.append(lb_id)
    for key in list(as_dict(state.tencent.listeners)) + list(as_dict(state.tencent.targets)):
        if isinstance(key, str) and key not in ids:
            ids.append(key)
    return ids


def lb_by_id(state: State, lb_id: str) -> dict[str, Any]:
    for lb in as_list(state.tencent.load_balancers):
        if isinstance(lb, dict) and lb.get("LoadBalancerId") == lb_id:
            return lb
    return {}


def tied_lbs(state: State, *, fallback: bool = True) -> list[TiedLB]:
    """The CLBs of the Service (and of its Ingresses), with how each was tied.

    With `fallback`, when nothing ties but Tencent data was read (a dump holding just one
    CLB, say), every CLB seen is used, marked `via="unmatched"`.
    """
    out: list[TiedLB] = []
    svc = state.service
    ingresses = state.ingresses
    for lb in as_list(state.tencent.load_balancers):
        if not isinstance(lb, dict) or not isinstance(lb.get("LoadBalancerId"), str) or not lb.get("LoadBalancerId"):
            continue
        if svc:
            reasons = match_reasons(lb, svc)
            if reasons:
                out.append(TiedLB(lb["LoadBalancerId"], lb, reasons, "Service"))
                continue
        for ing in ingresses:
            reasons = match_reasons(lb, ing, kind="Ingress")
            if reasons:
                m = meta(ing)
                out.append(TiedLB(lb["LoadBalancerId"], lb, reasons, f"Ingress {m.get('namespace')}/{m.get('name')}"))
                break
    if out or not fallback:
        return out
    return [TiedLB(i, lb_by_id(state, i), [], "unmatched") for i in known_lb_ids(state)]


def service_ports(state: State) -> list[dict[str, Any]]:
    return [p for p in as_list(((state.service or {}).get("spec") or {}).get("ports")) if isinstance(p, dict)]


def node_ports(state: State) -> set[int]:
    return {n for n in (as_int(p.get("nodePort")) for p in service_ports(state)) if n}


def _ingress_paths(state: State) -> list[tuple[str, str]]:
    """(host, path) of Ingress rules that route to the Service."""
    out = []
    for ing in state.ingresses:
        for rule in as_list((ing.get("spec") or {}).get("rules")):
            if not isinstance(rule, dict):
                continue
            host = rule.get("host") or ""
            for p in as_list((rule.get("http") or {}).get("paths")):
                backend = as_dict(as_dict(p).get("backend"))
                name = as_dict(backend.get("service")).get("name") or backend.get("serviceName")
                if name == state.target.service:
                    out.append((host, as_dict(p).get("path") or "/"))
    return out


@dataclass
class ListenerRef:
    tied: TiedLB
    listener: dict[str, Any]
    rules: list[dict[str, Any]]  # the relevant L7 rules ([] for L4)

    @property
    def id(self) -> str:
        return str(self.listener.get("ListenerId") or "")

    @property
    def protocol(self) -> str:
        return str(self.listener.get("Protocol") or "").upper()

    @property
    def port(self) -> int | None:
        return as_int(self.listener.get("Port"))

    @property
    def l7(self) -> bool:
        return self.protocol in ("HTTP", "HTTPS")

    @property
    def label(self) -> str:
        return f"listener {self.id} ({self.protocol}:{self.port})"


def relevant_listeners(state: State, tied: list[TiedLB] | None = None) -> list[ListenerRef]:
    """The listeners (and L7 rules) of the Service's CLBs that serve this Service.

    Service CLBs: listeners whose port is a Service port (all, if none is). Ingress CLBs: the
    rules whose domain/URL match the Ingress paths routed to the Service (all, if none match).
    """
    tied = tied if tied is not None else tied_lbs(state)
    ports = {as_int(p.get("port")) for p in service_ports(state)}
    paths = _ingress_paths(state)
    out: list[ListenerRef] = []
    for t in tied:
        listeners = [x for x in as_list(state.tencent.listeners.get(t.lb_id)) if isinstance(x, dict)]
        if t.via == "Service" and ports:
            chosen = [x for x in listeners if as_int(x.get("Port")) in ports] or listeners
        else:
            chosen = listeners
        for lst in chosen:
            rules = [r for r in as_list(lst.get("Rules")) if isinstance(r, dict)]
            if t.via.startswith("Ingress") and paths and rules:
                matching = [r for r in rules if any((r.get("Url") or "/") == p and (not h or r.get("Domain") == h) for h, p in paths)]
                rules = matching or rules
            out.append(ListenerRef(t, lst, rules))
    return out


@dataclass
class HealthCheckRef:
    ref: ListenerRef
    hc: dict[str, Any]
    rule: dict[str, Any] | None = None

    @property
    def label(self) -> str:
        if self.rule is not None:
            return f"{self.ref.tied.lb_id} {self.ref.label} rule {self.rule.get('LocationId')} ({self.rule.get('Domain') or ''}{self.rule.get('Url') or ''})"
        return f"{self.ref.tied.lb_id} {self.ref.label}"

    @property
    def switched_on(self) -> bool:
        return as_int(self.hc.get("HealthSwitch"), 1) != 0

    @property
    def source_ip_type(self) -> int | None:
        return as_int(self.hc.get("SourceIpType"))

    @property
    def check_type(self) -> str:
        ct = self.hc.get("CheckType")
        if isinstance(ct, str) and ct:
            return ct.upper()
        if self.ref.l7:
            return "HTTP"
        return {"UDP": "PING"}.get(self.ref.protocol, "TCP")


def health_check_refs(state: State, listeners: list[ListenerRef] | None = None) -> list[HealthCheckRef]:
    """The HealthCheck struct of each L4 listener and each L7 rule of the Service."""
    out = []
    for ref in listeners if listeners is not None else relevant_listeners(state):
        if ref.l7:
            for rule in ref.rules:
                out.append(HealthCheckRef(ref, as_dict(rule.get("HealthCheck")), rule))
        else:
            out.append(HealthCheckRef(ref, as_dict(ref.listener.get("HealthCheck"))))
    return out


# ---- target health ------------------------------------------------------------------------


@dataclass
class TargetRef:
    lb_id: str
    listener_id: str
    listener_label: str
    rule: str
    ip: str
    port: int | None
    healthy: bool | None
    detail: str
    target_id: str

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}" if self.port is not None else self.ip


DETAIL_MEANING = {
    "Alive": "healthy",
    "Dead": "health checks fail: no answer, a refused connection or a status code outside HttpCode",
    "Unknown": "not probed yet or probing (a new target, or checks just switched on)",
    "Close": "health check switched off, or the listener is stopped",
}


def target_refs(state: State, tied: list[TiedLB] | None = None) -> list[TargetRef]:
    """Every TargetHealth entry of the Service's listeners/rules."""
    tied = tied if tied is not None else tied_lbs(state)
    listeners = relevant_listeners(state, tied)
    wanted_listeners = {r.id for r in listeners}
    wanted_rules = {str(rule.get("LocationId")) for r in listeners for rule in r.rules}
    ids = {t.lb_id for t in tied}
    out = []
    for lbh in as_list(state.tencent.target_health):
        if not isinstance(lbh, dict) or not isinstance(lbh.get("LoadBalancerId"), str) or lbh["LoadBalancerId"] not in ids:
            continue
        for lh in as_list(lbh.get("Listeners")):
            if not isinstance(lh, dict):
                continue
            lid = str(lh.get("ListenerId") or "")
            if wanted_listeners and state.tencent.listeners.get(lbh["LoadBalancerId"]) and lid not in wanted_listeners:
                continue
            label = f"listener {lid} ({str(lh.get('Protocol') or '').upper()}:{lh.get('Port')})"
            for rh in as_list(lh.get("Rules")):
                if not isinstance(rh, dict):
                    continue
                loc = str(rh.get("LocationId") or "")
                l7 = str(lh.get("Protocol") or "").upper() in ("HTTP", "HTTPS")
                if l7 and wanted_rules and loc and loc not in wanted_rules:
                    continue
                rule = f"{rh.get('Domain') or ''}{rh.get('Url') or ''}" if (rh.get("Domain") or rh.get("Url")) else ""
                for th in as_list(rh.get("Targets")):
                    if not isinstance(th, dict):
                        continue
                    detail = th.get("HealthStatusDetail") or th.get("HealthStatusDetial") or ""
                    healthy = as_bool(th.get("HealthStatus"))
                    if healthy is None and detail:
                        healthy = detail == "Alive"
                    out.append(
                        TargetRef(
                            lb_id=lbh["LoadBalancerId"],
                            listener_id=lid,
                            listener_label=label,
                            rule=rule,
                            ip=str(th.get("IP") or ""),
                            port=as_int(th.get("Port")),
                            healthy=healthy,
                            detail=str(detail),
                            target_id=str(th.get("TargetId") or ""),
                        )
                    )
    return out


def backends(state: State, tied: list[TiedLB] | None = None) -> list[dict[str, Any]]:
    """DescribeTargets Backends of the Service's CLBs, each with `_lb`, `_listener` keys added."""
    tied = tied if tied is not None else tied_lbs(state)
    out = []
    for t in tied:
        for lb in as_list(state.tencent.targets.get(t.lb_id)):
            if not isinstance(lb, dict):
                continue
            groups = [as_list(lb.get("Targets"))] + [as_list(as_dict(r).get("Targets")) for r in as_list(lb.get("Rules"))]
            for group in groups:
                for b in group:
                    if isinstance(b, dict):
                        out.append({**b, "_lb": t.lb_id, "_listener": lb.get("ListenerId")})
    return out


def backend_ips(b: dict[str, Any]) -> list[str]:
    ips = [ip for ip in as_list(b.get("PrivateIpAddresses")) if isinstance(ip, str)]
    eni_ip = b.get("EniIp")
    if isinstance(eni_ip, str) and eni_ip and eni_ip not in ips:
        ips.append(eni_ip)
    return ips


def node_instance_id(node: dict[str, Any]) -> str:
    pid = str((node.get("spec") or {}).get("providerID") or "")
    last = pid.rsplit("/", 1)[-1]
    return last if last.startswith("ins-") else ""


def describe_target(state: State, ip: str, target_id: str = "") -> str:
    """'pod shop/web-1 on node node-1', 'node node-1 (ins-...)', or 'no pod or node of this cluster'."""
    pod = state.pod_by_ip(ip) if ip else None
    if pod:
        m = meta(pod)
        node_name = (pod.get("spec") or {}).get("nodeName")
        return f"pod {m.get('namespace')}/{m.get('name')}" + (f" on node {node_name}" if node_name else "")
    node = (state.node_by_address(target_id) if target_id.startswith("ins-") else None) or (state.node_by_address(ip) if ip else None)
    if node:
        ins = node_instance_id(node)
        return f"node {meta(node).get('name')}" + (f" ({ins})" if ins else "")
    if target_id.startswith("ins-"):
        return f"CVM {target_id} (no node of this cluster)"
    return "no pod or node of this cluster"


# ---- kube-proxy ---------------------------------------------------------------------------


def kube_proxy_mode(state: State) -> tuple[str | None, str]:
    """('ipvs' | 'iptables' | ..., where it was read) or (None, why unknown)."""
    cm = state.k8s.get("ConfigMap", "kube-system", "kube-proxy")
    if cm:
        for key, text in as_dict(cm.get("data")).items():
            if not isinstance(text, str):
                continue
            for line in text.splitlines():
                stripped = line.strip()
                if stripped.startswith("mode:"):
                    mode = stripped.split(":", 1)[1].strip().strip("\"'")
                    if mode:
                        return mode.lower(), f"ConfigMap kube-system/kube-proxy data {key}: mode: {mode}"
    for kind in ("DaemonSet", "Pod"):
        for obj in state.k8s.of_kind(kind, "kube-system"):
            if kind == "DaemonSet" and meta(obj).get("name") != "kube-proxy":
                continue
            if kind == "Pod" and not meta(obj).get("name", "").startswith("kube-proxy"):
                continue
            spec = (obj.get("spec") or {})
            if kind == "DaemonSet":
                spec = ((spec.get("template") or {}).get("spec")) or {}
            for c in as_list(spec.get("containers")):
                args = [str(a) for a in as_list(as_dict(c).get("command")) + as_list(as_dict(c).get("args"))]
                for i, a in enumerate(args):
                    for token in a.split():
                        if token.startswith("--proxy-mode="):
                            mode = token.split("=", 1)[1]
                            return mode.lower(), f"{kind} kube-system/{meta(obj).get('name')} arg {token}"
                    if a == "--proxy-mode" and i + 1 < len(args):
                        return args[i + 1].lower(), f"{kind} kube-system/{meta(obj).get('name')} args --proxy-mode {args[i + 1]}"
    return None, "kube-proxy mode not found (no kube-system/kube-proxy ConfigMap or --proxy-mode argument read)"


# ---- the backend side ---------------------------------------------------------------------


def direct_access(state: State) -> bool:
    return tencent_direct_access(state)


def ingress_direct(state: State) -> bool:
    return any(annotations(i).get("ingress.cloud.tencent.com/direct-access", "").lower() == "true" for i in state.ingresses)


# ---- rule evaluation (security groups, network ACLs) -------------------------------------


def _network(text: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    if not isinstance(text, str) or not text.strip():
        return None
    t = text.strip()
    try:
        net = ipaddress.ip_network(t, strict=False)
    except ValueError:
        return None
    if net.version == 4 and net.network_address == ipaddress.IPv4Address("0.0.0.0"):
        return ipaddress.IPv4Network("0.0.0.0/0")  # "0.0.0.0/n 都会映射为0.0.0.0/0"
    return net


def cidr_relation(rule_cidr: Any, source: str) -> str:
    """'all' if the rule's CIDR covers the whole source, 'some' if they overlap, 'none'."""
    rule = _network(rule_cidr)
    src = _network(source)
    if rule is None or src is None or rule.version != src.version:
        return "none"
    if src.subnet_of(rule):  # type: ignore[arg-type]
        return "all"
    if rule.overlaps(src):  # type: ignore[arg-type]
        return "some"
    return "none"


def port_relation(spec: Any, port: int | None, port_hi: int | None = None) -> str:
    """Does a rule's Port ("ALL", "80", "30000-32768", "80,443", int) cover [port, port_hi]?

    `port` None means any port (an ephemeral reply port): only ALL covers it.
    Returns 'all' | 'some' | 'none' | 'unknown'.
    """
    if spec is None or (isinstance(spec, str) and spec.strip().lower() in ("", "all", "-1")):
        return "all"
    ranges: list[tuple[int, int]] = []
    for part in str(spec).split(","):
        part = part.strip()
        if not part:
            continue
        lo_s, _, hi_s = part.partition("-")
        lo, hi = as_int(lo_s), as_int(hi_s) if hi_s else as_int(lo_s)
        if lo is None or hi is None:
            return "unknown"
        ranges.append((lo, hi))
    if not ranges:
        return "all"
    if port is None:
        return "some"
    hi_want = port_hi if port_hi is not None else port
    if any(lo <= port and hi_want <= hi for lo, hi in ranges):
        return "all"
    if any(lo <= hi_want and port <= hi for lo, hi in ranges):
        return "some"
    return "none"


def protocol_matches(rule_protocol: Any, protocol: str) -> bool:
    rp = str(rule_protocol or "ALL").strip().upper()
    return rp in ("ALL", "", "-1") or rp == protocol.upper()


@dataclass
class Evaluation:
    action: str | None  # ACCEPT | DROP | None (no rule decided: the default applies)
    rule: str = ""  # the deciding rule, as evidence
    notes: list[str] = field(default_factory=list)  # rules that could not be evaluated / partial overlaps

    @property
    def uncertain(self) -> bool:
        return bool(self.notes)


def describe_rule(r: dict[str, Any], index: Any = None) -> str:
    idx = index if index is not None else r.get("PolicyIndex", r.get("Priority", "?"))
    src = r.get("CidrBlock") or r.get("Ipv6CidrBlock") or r.get("SecurityGroupId") or as_dict(r.get("AddressTemplate")).get("AddressId") or as_dict(r.get("AddressTemplate")).get("AddressGroupId") or "?"
    # Security group policies carry PolicyDescription, network ACL entries Description (the SDK's models).
    desc = r.get("PolicyDescription") or r.get("Description") or ""
    return f"#{idx} {r.get('Action') or '?'} {r.get('Protocol') or 'ALL'} port {r.get('Port') or 'ALL'} from {src}" + (f" ({desc})" if isinstance(desc, str) and desc else "")


def evaluate_rules(rules: list[dict[str, Any]], *, protocol: str, port: int | None, source: str, port_hi: int | None = None) -> Evaluation:
    """First match wins, in the order given (sort by PolicyIndex/Priority before calling).

    A rule decides only if it covers the whole source and the whole port (range); rules that
    cover part of it, or reference what cannot be evaluated here (peer security groups,
    address/service templates), are noted instead.
    """
    notes: list[str] = []
    for i, r in enumerate(rules):
        if not isinstance(r, dict):
            continue
        action = str(r.get("Action") or "").upper()
        if not protocol_matches(r.get("Protocol"), protocol):
            continue
        st = as_dict(r.get("ServiceTemplate"))
        at = as_dict(r.get("AddressTemplate"))
        if st.get("ServiceId") or st.get("ServiceGroupId") or at.get("AddressId") or at.get("AddressGroupId"):
            notes.append(f"{describe_rule(r, r.get('PolicyIndex', i))}: uses a parameter template, not evaluated")
            continue
        if r.get("SecurityGroupId") and not r.get("CidrBlock"):
            notes.append(f"{describe_rule(r, r.get('PolicyIndex', i))}: admits a peer security group, not evaluated")
            continue
        if not r.get("CidrBlock"):
            continue  # an IPv6-only rule
        pr = port_relation(r.get("Port"), port, port_hi)
        cr = cidr_relation(r.get("CidrBlock"), source)
        if pr == "none" or cr == "none":
            continue
        if pr == "unknown":
            notes.append(f"{describe_rule(r, r.get('PolicyIndex', i))}: port {r.get('Port')!r} not understood")
            continue
        if pr == "all" and cr == "all" and action in ("ACCEPT", "DROP"):
            return Evaluation(action, describe_rule(r, r.get("PolicyIndex", i)), notes)
        notes.append(f"{describe_rule(r, r.get('PolicyIndex', i))}: covers only part of {source} port {port if port is not None else 'any'}")
    return Evaluation(None, "", notes)


def sorted_policies(rules: Any, key: str = "PolicyIndex") -> list[dict[str, Any]]:
    items = [r for r in as_list(rules) if isinstance(r, dict)]
    if any(r.get(key) is not None for r in items):
        return sorted(items, key=lambda r: (as_int(r.get(key), 1 << 30) if as_int(r.get(key)) is not None else 1 << 30))
    return items


# ---- backends' network identity (security groups, subnet) --------------------------------


@dataclass
class BackendNet:
    subject: str  # "node node-1 (ins-node1)", "pod shop/web-1 on node node-1"
    ip: str
    port: int | None
    sgs: list[str] | None  # None: not known
    where: str  # "CVM ins-node1", "ENI eni-web1", or why unknown
    subnet: str | None = None


def _instance_for(state: State, ip: str, target_id: str) -> dict[str, Any] | None:
    for ins in state.tencent.instances:
        if not isinstance(ins, dict):
            continue
        if target_id and ins.get("InstanceId") == target_id:
            return ins
    for ins in state.tencent.instances:
        if isinstance(ins, dict) and ip and ip in as_list(ins.get("PrivateIpAddresses")):
            return ins
    return None


def _eni_for(state: State, ip: str) -> dict[str, Any] | None:
    for eni in state.tencent.network_interfaces:
        if not isinstance(eni, dict):
            continue
        if any(as_dict(a).get("PrivateIpAddress") == ip for a in as_list(eni.get("PrivateIpAddressSet"))):
            return eni
    return None


def backend_nets(state: State, targets: list[TargetRef]) -> list[BackendNet]:
    """Security groups and subnet of each distinct backend (ip, port).

    ENI (VPC-CNI / direct-access pods) first, then the CVM (node, by TargetId or IP), then,
    for a pod IP without its own ENI (GlobalRouter), the CVM of the node it runs on.
    """
    out: list[BackendNet] = []
    seen: set[tuple[str, int | None]] = set()
    for t in targets:
        key = (t.ip, t.port)
        if key in seen:
            continue
        seen.add(key)
        subject = describe_target(state, t.ip, t.target_id)
        eni = _eni_for(state, t.ip)
        if eni is not None:
            out.append(BackendNet(subject, t.ip, t.port, [str(s) for s in as_list(eni.get("GroupSet"))], f"ENI {eni.get('NetworkInterfaceId')}", eni.get("SubnetId")))
            continue
        ins = _instance_for(state, t.ip, t.target_id)
        if ins is None:
            pod = state.pod_by_ip(t.ip)
            node = state.node((pod.get("spec") or {}).get("nodeName")) if pod else None
            ins_id = node_instance_id(node) if node else ""
            ins = _instance_for(state, "", ins_id) if ins_id else None
            if ins is not None:
                vpc = as_dict(ins.get("VirtualPrivateCloud"))
                out.append(
                    BackendNet(subject, t.ip, t.port, [str(s) for s in as_list(ins.get("SecurityGroupIds"))],
                               f"CVM {ins.get('InstanceId')} of the pod's node (no ENI of its own)", vpc.get("SubnetId"))
                )
                continue
            out.append(BackendNet(subject, t.ip, t.port, None, "no ENI or CVM with this IP was read"))
            continue
        vpc = as_dict(ins.get("VirtualPrivateCloud"))
        out.append(BackendNet(subject, t.ip, t.port, [str(s) for s in as_list(ins.get("SecurityGroupIds"))], f"CVM {ins.get('InstanceId')}", vpc.get("SubnetId")))
    return out


def probe_protocol(refs: list[HealthCheckRef]) -> str:
    for r in refs:
        ct = r.check_type
        if ct == "PING":
            return "ICMP"
        if r.ref.protocol == "UDP" and ct == "CUSTOM":
            return "UDP"
    return "TCP"


def probe_sources(refs: list[HealthCheckRef]) -> tuple[list[str], bool, bool]:
    """(VIPs probes may come from, vip_sourced, range_sourced) over switched-on checks.

    A missing SourceIpType counts as the VIP (the default of older accounts)."""
    vips: list[str] = []
    vip_sourced = range_sourced = False
    for r in refs:
        if not r.switched_on:
            continue
        if r.source_ip_type == RANGE_SOURCE:
            range_sourced = True
            continue
        vip_sourced = True
        for v in r.ref.tied.vips:
            try:
                if ipaddress.ip_address(v).version == 4 and v not in vips:
                    vips.append(v)
            except ValueError:
                continue
    return vips, vip_sourced, range_sourced
