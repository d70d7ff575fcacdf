"""Helpers the AWS checks share: what a reason code means, which pod/node a target is."""

from __future__ import annotations

from typing import Any

from checks.model import Finding, Status
from checks.providers.aws.mapping import lb_for_target_group, service_load_balancers, service_target_groups
from checks.state import State, meta
from checks.values import as_dict, as_int, as_list, as_str

# ELBv2 reason codes (botocore TargetHealth.Reason) in words a person on call understands.
REASONS: dict[str, str] = {
    "Elb.RegistrationInProgress": "still being registered with the load balancer",
    "Elb.InitialHealthChecking": "the load balancer is still sending the first health checks",
    "Target.ResponseCodeMismatch": "the health check got an HTTP answer, but not one of the success codes",
    "Target.Timeout": "the health check got no answer in time: something drops the packets "
    "(security group, network ACL, NetworkPolicy) or nothing answers on that address and port",
    "Target.FailedHealthChecks": "the load balancer could not connect, or the answer was an error or malformed "
    "(a Network Load Balancer reports every failed check this way: refused, reset, timed out or a bad status code)",
    "Elb.InternalError": "the health check failed because of an internal error in the load balancer",
    "Target.NotRegistered": "the target is not registered with the target group",
    "Target.NotInUse": "no load balancer uses the target group, or the target's Availability Zone is not enabled on it",
    "Target.InvalidState": "the instance is stopped or terminated",
    "Target.IpUnusable": "the IP address is reserved for use by a load balancer",
    "Target.DeregistrationInProgress": "the target is being deregistered (deregistration delay not over)",
    "Target.HealthCheckDisabled": "health checks are disabled for the target group",
}

# Which failure mechanisms (rank.py keys) each reason code is consistent with.
REASON_SUPPORTS: dict[str, tuple[str, ...]] = {
    "Target.ResponseCodeMismatch": (
        "healthcheck-path",
        "app-error",
        "targetport",
        "traffic-policy",
        "healthcheck-settings",
    ),
    "Target.Timeout": (
        "network-sg",
        "network-acl",
        "network-route",
        "network-policy",
        "targetport",
        "listen-localhost",
        "kube-proxy",
        "traffic-policy",
        "healthcheck-port",
    ),
    "Target.FailedHealthChecks": (
        "network-sg",
        "network-acl",
        "network-route",
        "network-policy",
        "targetport",
        "listen-localhost",
        "kube-proxy",
        "kube-proxy-hostname",
        "traffic-policy",
        "healthcheck-port",
        "healthcheck-path",
        "healthcheck-settings",
        "app-error",
        "pods-not-ready",
    ),
    "Target.NotRegistered": ("controller", "selector", "pods-not-ready"),
    "Target.NotInUse": ("controller",),
    "Target.HealthCheckDisabled": ("healthcheck-settings",),
}

UNHEALTHY_STATES = ("unhealthy", "unhealthy.draining")
DRAINING_STATES = ("draining", "unhealthy.draining")


def exposed_by_lb(state: State) -> bool:
    svc = state.service or {}
    return (
        (svc.get("spec") or {}).get("type") == "LoadBalancer"
        or bool(state.ingresses)
        or bool(state.k8s.of_kind("TargetGroupBinding", state.target.namespace))
    )


def no_target_groups(state: State, check_id: str) -> Finding | None:
    """Skip when there is no target group to judge (AWS-MAP says why)."""
    if not service_target_groups(state):
        why = state.skipped_reads.get("aws.target_health")
        return Finding(
            check_id, Status.SKIP, why or "No target group of this Service was found (see AWS-MAP)"
        )
    return None


def tg_name(tg: dict[str, Any]) -> str:
    return as_str(tg.get("TargetGroupName")) or as_str(tg.get("TargetGroupArn"), "?").split(":")[-1]


def lb_kind(lb: dict[str, Any] | None) -> str:
    """`application`, `network`, `gateway` or `` (unknown)."""
    return ((lb or {}).get("Type") or "").lower()


def lb_label(lb: dict[str, Any] | None) -> str:
    if not lb:
        return "load balancer (not read)"
    kind = {"application": "ALB", "network": "NLB", "gateway": "GWLB"}.get(lb_kind(lb), "LB")
    return f"{kind} {lb.get('LoadBalancerName')}"


def tg_lb_kind(state: State, tg: dict[str, Any]) -> str:
    lb = lb_for_target_group(state, tg)
    if lb:
        return lb_kind(lb)
    proto = (tg.get("Protocol") or "").upper()
    if proto in ("HTTP", "HTTPS"):
        return "application"
    if proto in ("TCP", "UDP", "TLS", "TCP_UDP"):
        return "network"
    return ""


def descriptions(state: State, tg: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        d
        for d in state.aws.target_health.get(tg.get("TargetGroupArn") or "", []) or []
        if isinstance(d, dict)
    ]


def th_state(desc: dict[str, Any]) -> str:
    return ((desc.get("TargetHealth") or {}).get("State") or "").lower()


def th_reason(desc: dict[str, Any]) -> str:
    return (desc.get("TargetHealth") or {}).get("Reason") or ""


def target_id(desc: dict[str, Any]) -> str:
    return str((desc.get("Target") or {}).get("Id") or "")


def target_port(desc: dict[str, Any], tg: dict[str, Any] | None = None) -> int | None:
    port = (desc.get("Target") or {}).get("Port") or (tg or {}).get("Port")
    return as_int(port)


def health_check_port(desc: dict[str, Any] | None, tg: dict[str, Any]) -> int | None:
    """The port the health check goes to for this target (`traffic-port` resolved)."""
    raw = (desc or {}).get("HealthCheckPort") or tg.get("HealthCheckPort") or "traffic-port"
    if str(raw) == "traffic-port":
        return target_port(desc or {}, tg)
    return as_int(raw)


def node_ip(node: dict[str, Any] | None) -> str:
    for a in ((node or {}).get("status") or {}).get("addresses") or []:
        if a.get("type") == "InternalIP":
            return a.get("address") or ""
    return ""


def pod_ready(pod: dict[str, Any]) -> bool:
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return c.get("status") == "True"
    return False


def node_ready(node: dict[str, Any]) -> bool:
    for c in (node.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return c.get("status") == "True"
    return False


def describe_target(state: State, tg: dict[str, Any], desc: dict[str, Any]) -> str:
    """`10.0.1.5:8080 = pod shop/web-1 (node-1, ready)` or `i-0abc:30080 = node ip-10-0-1-1 (Ready)`."""
    tid = target_id(desc)
    port = target_port(desc, tg)
    where = f"{tid}:{port}" if port else tid
    if tid.startswith("i-"):
        node = state.node_by_address(tid)
        if node:
            return f"{where} = node {meta(node).get('name')} ({'Ready' if node_ready(node) else 'NotReady'})"
        if not state.did_read("k8s.nodes"):
            return f"{where} = a node not known here (the nodes were not read)"
        return f"{where} = no node in the cluster has this instance ID"
    pod = state.pod_by_ip(tid)
    if pod:
        m = meta(pod)
        node = (pod.get("spec") or {}).get("nodeName") or "unscheduled"
        return f"{where} = pod {m.get('namespace')}/{m.get('name')} (node {node}, {'ready' if pod_ready(pod) else 'not ready'})"
    node = state.node_by_address(tid)
    if node:
        return f"{where} = node {meta(node).get('name')} (host network)"
    if not state.did_read("k8s.pods"):
        return f"{where} = a pod not known here (the pods were not read)"
    return f"{where} = no pod in the collected state has this IP"


def selected_ready_pod_ips(state: State) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for pod in state.selected_pods:
        ip = (pod.get("status") or {}).get("podIP")
        if ip and pod_ready(pod) and not (pod.get("spec") or {}).get("hostNetwork"):
            out[ip] = pod
    return out


def service_port_entry(state: State, tg: dict[str, Any]) -> dict[str, Any] | None:
    """The Service port a target group serves: by NodePort (instance) or targetPort (ip) or tag."""
    ports = ((state.service or {}).get("spec") or {}).get("ports") or []
    tg_port = as_int(tg.get("Port"))
    for p in ports:
        if tg.get("TargetType") == "instance" and as_int(p.get("nodePort")) == tg_port:
            return p
    for p in ports:
        if resolve_target_port(state, p) == tg_port:
            return p
    return ports[0] if len(ports) == 1 else None


def resolve_target_port(state: State, port: dict[str, Any]) -> int | None:
    """A Service port's targetPort as a number (named ports resolved through the selected pods)."""
    tp = port.get("targetPort", port.get("port"))
    if (number := as_int(tp)) is not None:
        return number
    for pod in state.selected_pods:
        for c in as_list(as_dict(pod.get("spec")).get("containers")):
            for cp in as_list(as_dict(c).get("ports")):
                if as_dict(cp).get("name") == tp:
                    return as_int(cp.get("containerPort"))
    return None


def pod_ports(state: State) -> list[int]:
    """The Service's target ports as numbers (the ports pods listen on)."""
    ports = ((state.service or {}).get("spec") or {}).get("ports") or []
    out: list[int] = []
    for p in ports:
        n = resolve_target_port(state, p)
        if n and n not in out:
            out.append(n)
    return out


def region(state: State) -> str:
    if state.aws.region:
        return state.aws.region
    for lb in service_load_balancers(state):
        parts = (lb.get("LoadBalancerArn") or "").split(":")
        if len(parts) > 3 and parts[3]:
            return parts[3]
    return ""


def region_flag(state: State) -> str:
    r = region(state)
    return f" --region {r}" if r else ""
