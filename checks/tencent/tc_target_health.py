"""TC-TARGET-HEALTH: what the CLB itself says about each backend, tied to pods and nodes."""

from __future__ import annotations

from checks.lbview import fail_open_consequence
from checks.model import Finding, Status
from checks.providers.base import external_traffic_local
from checks.registry import check
from checks.state import State, meta
from checks.tencent._common import (
    DETAIL_MEANING,
    describe_target,
    direct_access,
    region_flag,
    relevant_listeners,
    target_refs,
    tied_lbs,
)

ID = "TC-TARGET-HEALTH"
MAX_LINES = 20

# Mechanisms an unhealthy target is consistent with. When every target fails, the cause is
# shared (settings, path, probe source, security group); when only some do, it is per target.
ALL_FAIL = (
    "healthcheck-path", "healthcheck-settings", "targetport", "app-error", "listen-localhost",
    "probe-source", "network-sg", "network-acl", "network-policy", "snat", "pods-not-ready", "selector",
)
SOME_FAIL_NODES = ("kube-proxy", "traffic-policy", "network-sg", "network-acl", "pods-not-ready", "app-error")
SOME_FAIL_PODS = ("pods-not-ready", "app-error", "listen-localhost", "network-sg", "network-policy")


def _ready_pod_nodes(state: State) -> set[str]:
    out = set()
    for p in state.selected_pods:
        conds = {c.get("type"): c.get("status") for c in ((p.get("status") or {}).get("conditions") or []) if isinstance(c, dict)}
        if conds.get("Ready") == "True":
            node = (p.get("spec") or {}).get("nodeName")
            if node:
                out.add(node)
    return out


@check(
    ID,
    title="CLB target health tied to pods and nodes",
    seed="004: 当健康检查探测到所有后端服务都有异常时，请求将会被转发给所有后端服务",
    reads=("tencent.target_health",),
    uses=("tencent.clb", "k8s.pods", "k8s.nodes"),
    decides=("tencent.clb", "tencent.target_health"),
    symptom=True,
    severity=30,
)
def tc_target_health(state: State) -> Finding:
    """The symptom every incident starts from: which backends the CLB marks unhealthy, and why
    (Dead = probes fail, Unknown = not probed yet, Close = checks off). Tying each address to
    its pod or node turns "10.0.0.5:30080 Dead" into "node-2 fails, node-1 passes", which
    separates per-node causes (kube-proxy, traffic policy) from shared ones (path, probe
    source, security group). When every target fails, CLB forwards to all of them anyway."""
    tied = tied_lbs(state)
    if not tied:
        return Finding(ID, Status.SKIP, "No CLB is tied to the Service (see TC-MAP)")
    lb_text = ", ".join(t.lb_id for t in tied)
    step = f"tccli clb DescribeTargetHealth{region_flag(state)} --LoadBalancerIds '[{', '.join(chr(34) + t.lb_id + chr(34) for t in tied)}]'"
    targets = target_refs(state, tied)
    direct = direct_access(state)
    if not targets:
        listeners = relevant_listeners(state, tied)
        what = "pod" if direct else "node"
        return Finding(
            ID,
            Status.FAIL,
            f"CLB {lb_text} has no backend registered on the Service's listeners",
            evidence=[f"{r.tied.lb_id} {r.label}: no target" for r in listeners] or [f"{lb_text}: no listener with targets"],
            next_step=f"kubectl -n {state.target.namespace} get endpointslices -l kubernetes.io/service-name={state.target.service}"
            f"  # no ready {what} to register; then {step}",
            cause="",
            supports=("selector", "pods-not-ready"),
        )
    unhealthy = [t for t in targets if t.healthy is False]
    if not unhealthy:
        evidence = [f"{t.listener_label} {t.address}: healthy ({describe_target(state, t.ip, t.target_id)})" for t in targets[:MAX_LINES]]
        return Finding(ID, Status.PASS, f"All {len(targets)} targets of CLB {lb_text} are healthy", evidence=evidence, next_step=step)

    local = external_traffic_local(state) and not direct
    ready_nodes = _ready_pod_nodes(state) if local else set()
    evidence: list[str] = []
    subjects: list[str] = []
    strangers = 0
    by_design = 0
    for t in unhealthy:
        who = describe_target(state, t.ip, t.target_id)
        detail = t.detail or "?"
        meaning = DETAIL_MEANING.get(detail, "")
        line = (
            f"{t.lb_id} {t.listener_label}" + (f" rule {t.rule}" if t.rule else "")
            + f": {t.address} HealthStatus false, HealthStatusDetail {detail}" + (f" ({meaning})" if meaning else "")
            + f" - {who}"
        )
        if who.startswith(("no pod", "CVM ")):
            strangers += 1
            line += " (registered but not part of this Service any more?)"
        if local:
            node = state.node_by_address(t.target_id) if t.target_id.startswith("ins-") else None
            node = node or state.node_by_address(t.ip)
            if node is not None and meta(node).get("name") not in ready_nodes:
                by_design += 1
                line += "; externalTrafficPolicy Local and no ready pod on this node: fails by design"
        pod = state.pod_by_ip(t.ip) if direct else None
        if pod is not None:
            ready = next((c.get("status") for c in ((pod.get("status") or {}).get("conditions") or []) if c.get("type") == "Ready"), None)
            if ready != "True":
                line += "; the pod is not Ready"
        evidence.append(line)
        subjects.append(who.split(" (")[0].split(" on node")[0])
    all_bad = len(unhealthy) == len(targets)
    healthy = [t for t in targets if t.healthy]
    for t in healthy[: max(0, MAX_LINES - len(evidence))]:
        evidence.append(f"{t.listener_label} {t.address}: healthy ({describe_target(state, t.ip, t.target_id)})")
    evidence = evidence[:MAX_LINES] + ([f"... and {len(evidence) - MAX_LINES} more"] if len(evidence) > MAX_LINES else [])
    details = {t.detail for t in unhealthy}
    if all_bad:
        evidence.insert(0, f"Every target is unhealthy: CLB then forwards requests to all of them; {fail_open_consequence(state)}")
        summary = f"All {len(targets)} targets of CLB {lb_text} are unhealthy (CLB then forwards to all of them)"
        supports = ALL_FAIL
    else:
        shown = ", ".join(dict.fromkeys(subjects))
        summary = f"{len(unhealthy)} of {len(targets)} targets of CLB {lb_text} are unhealthy: {shown}"
        supports = SOME_FAIL_PODS if direct else SOME_FAIL_NODES
    if by_design and by_design == len(unhealthy):
        supports = ("traffic-policy",)
    if strangers == len(unhealthy):
        supports = ("selector", "pods-not-ready")
    status = Status.FAIL
    if details <= {"Unknown"}:
        status = Status.WARN
        summary += " (not probed yet: Unknown)"
    elif details <= {"Close"}:
        status = Status.WARN
        summary += " (health check switched off: Close)"
        supports = ("healthcheck-settings",)
    return Finding(
        ID,
        status,
        summary,
        evidence=evidence,
        next_step=step + "  # CLB's detail: Dead = probes fail, Unknown = probing, Close = checks off; the cause is ranked first in this report",
        cause="",
        supports=tuple(supports),
    )
