"""What the load balancer probes, and where: the plan the probe collector follows.

Pure functions over the collected state (no network): the probe collector turns the plan into
requests, and the probe/node checks use the same plan to name ports and targets, so the
three of them agree on "the targets the load balancer probes".

- ip targets: each selected pod's IP : the Service port's targetPort resolved against the pod's
  container ports (a numeric health-check port wins, as it does on the load balancer);
- instance targets: each node's InternalIP : the Service port's nodePort (or the numeric
  health-check port, e.g. healthCheckNodePort with /healthz for externalTrafficPolicy Local).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from checks.lbview import detect_cloud, health_checks
from checks.providers.base import HealthCheck
from checks.state import State
from checks.values import as_port

NOT_PROBED = "not probed: "  # prefix of the notes on targets the collector did not send to
MAX_TARGETS = 20  # distinct address:port pairs probed per diagnosis
# state.skipped_reads keys for targets that were not probed (state.probes holds only real probes):
SKIP_CAP = "probe.cap"  # "probed 20 of 35 targets (cap 20); not probed: ..."
SKIP_ALLOW = "probe.allow"  # targets outside LBHEALTH_PROBE_ALLOW / options["probe_allow"]
SKIP_LISTEN = "probe.listen"  # refused targets whose loopback could not be probed, and why
HTTP_PROTOCOLS = ("HTTP", "HTTPS")
CONNECT_PROTOCOLS = ("HTTP", "HTTPS", "TCP", "TLS", "TCP_SSL")


@dataclass(frozen=True)
class ProbeTarget:
    """One request the load balancer sends to one target."""

    subject: str  # "pod shop/web-1" | "node node-1"
    address: str
    port: int
    protocol: str  # HTTP | HTTPS | TCP
    path: str = ""
    host: str = ""  # Host header the LB sends ("" = the target address, as ALB/NLB do)
    method: str = "GET"
    http_version: str = "HTTP/1.1"
    expected: str = ""  # success codes, AWS matcher syntax
    timeout_s: float = 5.0
    source: str = ""  # which health check this comes from (HealthCheck.source)
    node: str = ""  # node hosting the target
    pod: str = ""  # namespace/name when the target is a pod

    @property
    def endpoint(self) -> tuple[str, int]:
        return (self.address, self.port)

    @property
    def is_http(self) -> bool:
        return self.protocol in HTTP_PROTOCOLS


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _l(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _s(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _pod_ready(pod: dict[str, Any]) -> bool:
    for c in _l(_d(pod.get("status")).get("conditions")):
        if _d(c).get("type") == "Ready":
            return _d(c).get("status") == "True"
    return False


def pod_ip(pod: dict[str, Any]) -> str | None:
    st = _d(pod.get("status"))
    return _s(st.get("podIP")) or next((_s(_d(x).get("ip")) for x in _l(st.get("podIPs")) if _s(_d(x).get("ip"))), None)


def node_internal_ip(node: dict[str, Any]) -> str | None:
    for a in _l(_d(node.get("status")).get("addresses")):
        if _d(a).get("type") == "InternalIP" and _s(_d(a).get("address")):
            return a["address"]
    return None


def _name(obj: dict[str, Any]) -> str:
    return _s(_d(obj.get("metadata")).get("name"))


def resolve_target_port(svc_port: dict[str, Any], pod: dict[str, Any]) -> int | None:
    """The pod port a Service port sends to: a number as is, a name via the containers' ports."""
    tp = svc_port.get("targetPort", svc_port.get("port"))
    n = as_port(tp)
    if n is not None:
        return n
    if not isinstance(tp, str) or not tp:
        return None
    proto = str(svc_port.get("protocol") or "TCP").upper()
    for c in _l(_d(pod.get("spec")).get("containers")):
        for p in _l(_d(c).get("ports")):
            if _d(p).get("name") == tp and str(p.get("protocol") or "TCP").upper() == proto:
                return as_port(p.get("containerPort"))
    return None


def tcp_service_ports(state: State) -> list[dict[str, Any]]:
    ports = _l(_d(_d(state.service).get("spec")).get("ports"))
    return [p for p in ports if isinstance(p, dict) and str(p.get("protocol") or "TCP").upper() == "TCP"]


def _tencent_listener(state: State, listener_id: str) -> dict[str, Any] | None:
    if not listener_id or not isinstance(state.tencent.listeners, dict):
        return None
    for listeners in state.tencent.listeners.values():
        for lst in _l(listeners):
            if _d(lst).get("ListenerId") == listener_id:
                return lst
    return None


def _ingress_of(state: State, hc: HealthCheck) -> dict[str, Any] | None:
    words = _s(hc.source).split()
    if len(words) < 2 or words[0] != "Ingress":
        return None
    for ing in state.ingresses:
        if f"{_s(_d(ing.get('metadata')).get('namespace'))}/{_name(ing)}" == words[1]:
            return ing
    return None


def _ingress_backend_ports(ing: dict[str, Any], service: str) -> list[int | str]:
    out: list[int | str] = []
    spec = _d(ing.get("spec"))

    def add(backend: Any) -> None:
        backend = _d(backend)
        svc = _d(backend.get("service"))
        if (svc.get("name") or backend.get("serviceName")) != service:
            return
        port = _d(svc.get("port"))
        ref = port.get("number") or port.get("name") or backend.get("servicePort")
        if isinstance(ref, (int, str)) and ref not in out:
            out.append(ref)

    add(spec.get("defaultBackend") or spec.get("backend"))
    for rule in _l(spec.get("rules")):
        for path in _l(_d(_d(rule).get("http")).get("paths")):
            add(_d(path).get("backend"))
    return out


def service_ports_for(state: State, hc: HealthCheck) -> list[dict[str, Any]]:
    """The Service ports this health check's target group / listener / Ingress backend serves."""
    ports = tcp_service_ports(state)
    if not ports:
        return []
    chosen: list[dict[str, Any]] = []
    if _s(hc.listener).startswith("arn:"):
        tg = next((t for t in state.aws.target_groups if _d(t).get("TargetGroupArn") == hc.listener), None)
        tg_port = as_port(_d(tg).get("Port"))
        if tg_port is not None:
            if hc.target_type == "instance":
                chosen = [p for p in ports if as_port(p.get("nodePort")) == tg_port]
            else:
                chosen = [p for p in ports if as_port(p.get("targetPort")) == tg_port]
                chosen = chosen or [p for p in ports if any(resolve_target_port(p, pod) == tg_port for pod in state.selected_pods)]
            chosen = chosen or [p for p in ports if as_port(p.get("port")) == tg_port]
    elif (ing := _ingress_of(state, hc)) is not None:
        for ref in _ingress_backend_ports(ing, state.target.service):
            chosen += [p for p in ports if p.get("port") == ref or (isinstance(ref, str) and p.get("name") == ref)]
    elif (lst := _tencent_listener(state, hc.listener)) is not None:
        chosen = [p for p in ports if as_port(p.get("port")) == as_port(_d(lst).get("Port"))]
    return chosen or ports


def tencent_http_method(state: State, hc: HealthCheck) -> tuple[str, str]:
    """(method, HTTP version) the CLB sends: HttpCheckMethod defaults to HEAD on CLB."""
    lst = _tencent_listener(state, hc.listener)
    if lst is None:
        return "HEAD", "HTTP/1.1"
    candidates = [_d(_d(lst).get("HealthCheck"))] + [_d(_d(r).get("HealthCheck")) for r in _l(_d(lst).get("Rules"))]
    for c in candidates:
        if c and (c.get("HttpCheckPath") or "/") == (_s(hc.path) or "/"):
            method = str(c.get("HttpCheckMethod") or "HEAD").upper()
            version = str(c.get("HttpVersion") or "HTTP/1.1").upper()
            return (method if method in ("GET", "HEAD") else "HEAD"), ("HTTP/1.0" if version == "HTTP/1.0" else "HTTP/1.1")
    return "HEAD", "HTTP/1.1"


def _ordered_pods(state: State) -> list[dict[str, Any]]:
    pods = [p for p in state.selected_pods if _d(p.get("status")).get("phase") == "Running" and pod_ip(p)]
    return sorted(pods, key=lambda p: (not _pod_ready(p), _name(p)))


def _node_of(pod: dict[str, Any]) -> str:
    return _s(_d(pod.get("spec")).get("nodeName"))


def _ordered_nodes(state: State) -> list[dict[str, Any]]:
    """Nodes hosting a selected pod first (the ones that must be healthy), then the others."""
    hosting = {_node_of(p) for p in state.selected_pods}
    nodes = [n for n in state.nodes if node_internal_ip(n)]
    return sorted(nodes, key=lambda n: (_name(n) not in hosting, _name(n)))


def _timeout(value: Any) -> float:
    try:
        t = float(value)
    except (TypeError, ValueError):
        return 5.0
    return t if 0 < t <= 300 else 5.0


def plan(state: State) -> tuple[list[ProbeTarget], list[str]]:
    """Every (health check, target) pair the load balancer probes, and notes on what cannot be."""
    targets: list[ProbeTarget] = []
    notes: list[str] = []
    seen: set[tuple[Any, ...]] = set()
    cloud = detect_cloud(state)
    for hc in health_checks(state):
        protocol = _s(hc.protocol).upper()
        if protocol not in CONNECT_PROTOCOLS + ("GRPC",):
            notes.append(f"{hc.source}: {protocol or 'unknown'} health check; only HTTP, HTTPS and TCP are probed")
            continue
        if protocol == "GRPC":
            notes.append(f"{hc.source}: gRPC health check; only the TCP connection under it is probed")
        if protocol in ("TLS", "TCP_SSL", "GRPC"):
            protocol = "TCP"
        method, version = ("GET", "HTTP/1.1")
        if cloud == "tencent" and protocol in HTTP_PROTOCOLS:
            method, version = tencent_http_method(state, hc)
        path = _s(hc.path) or "/"
        if not path.startswith("/"):
            path = "/" + path
        svc_ports = service_ports_for(state, hc)
        hc_port = as_port(hc.port)
        if hc_port is None and _s(hc.port) not in ("", "traffic-port"):
            # a named Service port ("http"): the LB probes that port's target/node port
            named = [p for p in tcp_service_ports(state) if p.get("name") == hc.port]
            if named:
                svc_ports = named
            else:
                notes.append(f"{hc.source}: health-check port '{hc.port}' is neither a number nor a Service port name")
                continue
        common = dict(
            protocol=protocol,
            path=path if protocol in HTTP_PROTOCOLS else "",
            host=_s(hc.host) if protocol in HTTP_PROTOCOLS else "",
            method=method,
            http_version=version,
            expected=(_s(hc.success_codes) or "200-399") if protocol in HTTP_PROTOCOLS else "",
            timeout_s=_timeout(hc.timeout_s),
            source=_s(hc.source),
        )
        if hc.target_type == "ip":
            pods = _ordered_pods(state)
            if not pods:
                notes.append(f"{hc.source}: no running selected pod with an IP to probe")
            for pod in pods:
                name = f"{_s(_d(pod.get('metadata')).get('namespace'))}/{_name(pod)}"
                ports = [hc_port] if hc_port is not None else [resolve_target_port(sp, pod) for sp in svc_ports]
                if hc_port is None and not svc_ports:
                    notes.append(f"{hc.source}: the Service has no TCP port")
                for sp, port in zip(svc_ports or [{}], ports, strict=False):
                    if port is None:
                        notes.append(f"pod {name}: no container port named '{sp.get('targetPort')}'")
                        continue
                    key = (protocol, pod_ip(pod), port, common["path"], common["host"])
                    if key in seen:
                        continue
                    seen.add(key)
                    targets.append(
                        ProbeTarget(subject=f"pod {name}", address=pod_ip(pod) or "", port=port,
                                    node=_node_of(pod), pod=name, **common)
                    )
        else:
            nodes = _ordered_nodes(state)
            if not nodes:
                notes.append(f"{hc.source}: no node with an InternalIP to probe")
            ports = [hc_port] if hc_port is not None else [as_port(sp.get("nodePort")) for sp in svc_ports]
            if hc_port is None and ports and all(p is None for p in ports):
                notes.append(f"{hc.source}: instance targets but the Service port has no nodePort")
            for node in nodes:
                for port in ports:
                    if port is None:
                        continue
                    ip = node_internal_ip(node) or ""
                    key = (protocol, ip, port, common["path"], common["host"])
                    if key in seen:
                        continue
                    seen.add(key)
                    name = _name(node) or ip
                    targets.append(ProbeTarget(subject=f"node {name}", address=ip, port=port, node=name, **common))
    return targets, notes


def curl_command(t: ProbeTarget) -> str:
    """The exact `curl` a person runs to send what the load balancer sends to this target."""
    scheme = "https" if t.protocol == "HTTPS" else "http"
    hostport = f"[{t.address}]" if ":" in t.address else t.address
    parts = ["curl", "-sS", "-o", "/dev/null", "-w", "'%{http_code}'"]
    if scheme == "https":
        parts.append("-k")
    if t.method.upper() == "HEAD":
        parts.append("-I")
    if t.http_version == "HTTP/1.0":
        parts.append("--http1.0")
    if t.host:
        parts += ["-H", shlex.quote(f"Host: {t.host}")]
    if t.timeout_s:
        parts += ["--max-time", f"{t.timeout_s:g}"]
    parts.append(shlex.quote(f"{scheme}://{hostport}:{t.port}{t.path or '/'}"))
    return " ".join(parts)


def target_of(result: Any, targets: list[ProbeTarget]) -> ProbeTarget:
    """The planned target a ProbeResult was made for (or one rebuilt from the result itself)."""
    for t in targets:
        if t.address == result.address and t.port == result.port and (result.kind != "http" or t.path == result.path):
            return t
    host = result.host_header if result.host_header not in (result.address, f"{result.address}:{result.port}") else ""
    return ProbeTarget(
        subject=result.subject, address=result.address, port=result.port, protocol="HTTP" if result.kind == "http" else "TCP",
        path=result.path, host=host, expected=result.expected, timeout_s=result.timeout_s,
    )


def nc_command(address: str, port: int, timeout_s: float = 5.0) -> str:
    return f"nc -z -v -w {max(1, round(timeout_s))} {address} {port}"
