"""K8S-KUBE-PROXY: kube-proxy runs, ready and stable, on the nodes the load balancer targets.

Why it matters (seed step "Restart kube-proxy"; Tencent guide "kube-proxy on the node"):
with instance targets the load balancer sends to a NodePort, and kube-proxy's iptables/IPVS
rules forward it to a pod. A kube-proxy that is down, crash-looping or failing to sync leaves
stale or missing rules, so health checks to that node fail although the pods are fine.
A rollout restart makes every kube-proxy re-sync its rules.
"""

from __future__ import annotations

import re
from typing import Any

from checks.k8s._podfacts import as_dict, as_int, as_list, name_of, pod_health, pod_spec, ref
from checks.lbview import detect_cloud, target_type
from checks.model import Finding, FixPlan, ObjectRef, Status
from checks.registry import check
from checks.state import State, meta

ID = "K8S-KUBE-PROXY"
NS = "kube-system"
# The fix worker replaces this with the current time (RFC 3339, UTC) when the fix is applied,
# exactly as `kubectl rollout restart` writes it.
RESTARTED_AT_PLACEHOLDER = "${APPLY_TIME_RFC3339}"
RESTART_WARN = 3
MAX_EVIDENCE = 30
_ERROR_LINE = re.compile(r"^[EF]\d{4} |\blevel=(error|fatal)\b|\b(error|failed|fatal|panic)\b", re.I)
_INFO_LINE = re.compile(r"^[IW]\d{4} |\blevel=(info|debug|warn(ing)?)\b", re.I)
_EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"


def _is_kube_proxy(pod: dict[str, Any]) -> bool:
    labels = as_dict(meta(pod).get("labels"))
    return labels.get("k8s-app") == "kube-proxy" or labels.get("component") == "kube-proxy"


def _node_ok_for_lb(node: dict[str, Any]) -> bool:
    labels = as_dict(meta(node).get("labels"))
    if _EXCLUDE_LABEL in labels:
        return False
    return labels.get("eks.amazonaws.com/compute-type") != "fargate"


def _error_lines(state: State, pod: dict[str, Any]) -> list[str]:
    out: list[str] = []
    containers = [c.get("name") for c in as_list(pod_spec(pod).get("containers")) if isinstance(c, dict)] or ["kube-proxy"]
    for cname in containers:
        for previous in (False, True):
            text = state.k8s.logs.get((NS, name_of(pod), str(cname), previous))
            if not isinstance(text, str):
                continue
            hits = [ln.strip() for ln in text.splitlines() if ln.strip() and _ERROR_LINE.search(ln) and not _INFO_LINE.search(ln)]
            for ln in hits[-3:]:
                out.append(f"kube-proxy {name_of(pod)} {'previous ' if previous else ''}log: {ln[:300]}")
    return out


def _restart_fix(ds: dict[str, Any]) -> FixPlan:
    patch = {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": RESTARTED_AT_PLACEHOLDER}}}}}
    return FixPlan(
        id="FIX-RESTART-KUBE-PROXY",
        title="Rollout restart of daemonset/kube-proxy in kube-system (kube-proxy re-syncs every Service rule)",
        patch=patch,
        command="kubectl rollout restart daemonset/kube-proxy -n kube-system",
        target=ObjectRef("DaemonSet", "kube-proxy", NS, "apps/v1", meta(ds).get("resourceVersion")),
        patch_type="strategic-merge",
        tradeoff="kube-proxy restarts node by node (the DaemonSet's maxUnavailable); existing rules stay in place while it restarts, "
        "so established connections normally survive. On EKS, if kube-proxy is a managed add-on, the add-on may revert manual edits "
        "(a restart is not an edit of its configuration).",
    )


def _daemonset_only(ds: dict[str, Any], evidence: list[str]) -> Finding:
    """The DaemonSet was read but none of its pods: its status is all there is to judge by.

    A DaemonSet that reports its pods ready while none is in what was read (a dump with no
    kube-system pods) says they exist: calling kube-proxy down on every node would be a guess.
    """
    st = as_dict(ds.get("status"))
    desired, ready = as_int(st.get("desiredNumberScheduled")), as_int(st.get("numberReady"))
    step = "kubectl get pods -n kube-system -l k8s-app=kube-proxy -o wide"
    if desired and ready is not None and ready >= desired:
        return Finding(ID, Status.PASS, f"The kube-proxy DaemonSet reports {ready} of {desired} pods ready (its pods were not read, "
                       "so which node runs which is not known here)", evidence=evidence, next_step=step)
    return Finding(
        ID,
        Status.WARN,
        f"The kube-proxy DaemonSet reports {ready if ready is not None else '?'} of {desired if desired is not None else '?'} pods ready; "
        "its pods were not read, so which target nodes lack it is not known here",
        evidence=evidence,
        next_step=step,
        fix=_restart_fix(ds),
        supports=("kube-proxy",),
    )


@check(
    ID,
    title="kube-proxy is ready and stable on the target nodes",
    seed="Restart kube-proxy",
    reads=("k8s.service", "k8s.kube_proxy"),
    uses=("k8s.pods", "k8s.nodes", "k8s.logs"),
    fixes=("FIX-RESTART-KUBE-PROXY",),
    severity=60,
)
def kube_proxy(state: State) -> Finding:
    """kube-proxy down or failing on a target node leaves stale NodePort rules: health checks to that node fail."""
    ds = state.k8s.get("DaemonSet", NS, "kube-proxy")
    proxies = [p for p in state.k8s.of_kind("Pod", NS) if _is_kube_proxy(p)]
    if ds is None and not proxies:
        others = sorted(name_of(d) for d in state.k8s.of_kind("DaemonSet", NS))
        cilium = [n for n in others if "cilium" in n]
        why = (
            f"DaemonSet {', '.join(cilium)} runs in kube-system: Cilium probably replaces kube-proxy (kubeProxyReplacement)"
            if cilium
            else "kube-proxy may run outside Kubernetes (k3s, static pods not read) or be replaced by the CNI"
        )
        step = "cilium status | grep KubeProxyReplacement" if cilium else "kubectl get ds -n kube-system"
        if detect_cloud(state) == "aws":
            step += "; on EKS: aws eks describe-addon --cluster-name CLUSTER --addon-name kube-proxy"
        return Finding(ID, Status.SKIP, f"No kube-proxy DaemonSet in kube-system: {why}", next_step=step)

    svc_type = as_dict((state.service or {}).get("spec")).get("type") or "ClusterIP"
    instance = target_type(state) == "instance" and svc_type in ("LoadBalancer", "NodePort")
    evidence: list[str] = []
    if instance:
        nodes = [n for n in state.nodes if _node_ok_for_lb(n)]
        target_nodes = sorted({name_of(n) for n in nodes})
        if not target_nodes:
            target_nodes = sorted({str(pod_spec(p).get("nodeName")) for p in state.selected_pods if pod_spec(p).get("nodeName")})
            evidence.append(f"instance targets: nodes were not read ({state.why_not_read('k8s.nodes') or 'none found'}); checking the nodes of the selected pods")
        else:
            evidence.append(f"instance targets: the load balancer sends to a NodePort on all {len(target_nodes)} eligible nodes, so kube-proxy on each matters")
    else:
        target_nodes = sorted({str(pod_spec(p).get("nodeName")) for p in state.selected_pods if pod_spec(p).get("nodeName")})
        if svc_type in ("LoadBalancer", "NodePort"):
            evidence.append("ip targets: the load balancer reaches pod IPs directly; kube-proxy is only on the path of in-cluster traffic to the Service")
        else:
            evidence.append(f"{svc_type} Service: no NodePort for a load balancer to target; kube-proxy only carries in-cluster traffic (nodes of the pods checked)")

    if ds is not None:
        st = as_dict(ds.get("status"))
        evidence.append(
            f"DaemonSet kube-system/kube-proxy desired={st.get('desiredNumberScheduled', '?')} ready={st.get('numberReady', '?')} "
            f"available={st.get('numberAvailable', '?')} updated={st.get('updatedNumberScheduled', '?')} unavailable={st.get('numberUnavailable', 0)}"
        )
    else:
        evidence.append("kube-proxy pods exist but no kube-proxy DaemonSet was read (static pods?): no restart fix offered")

    if ds is not None and not proxies:
        return _daemonset_only(ds, evidence)

    by_node: dict[str, list[dict[str, Any]]] = {}
    for p in proxies:
        by_node.setdefault(str(pod_spec(p).get("nodeName") or ""), []).append(p)

    hard: list[str] = []
    soft: list[str] = []
    for node in target_nodes:
        pods = [p for p in by_node.get(node, []) if not meta(p).get("deletionTimestamp")]
        if not pods:
            hard.append(node)
            evidence.append(f"Node {node}: no kube-proxy pod")
            continue
        for p in pods:
            h = pod_health(p)
            restarts = f", {h.restarts} restarts" + (f" (last: {h.restarting[0][2]})" if h.restarting else "") if h.restarts else ""
            if not h.ready:
                hard.append(node)
                evidence.append(f"Node {node}: kube-proxy pod {ref(p)} NOT ready: {h.short}{restarts}")
            elif h.restarts >= RESTART_WARN:
                soft.append(node)
                evidence.append(f"Node {node}: kube-proxy pod {ref(p)} ready but restarting{restarts}")
            errors = _error_lines(state, p)
            if errors:
                soft.append(node)
                evidence.extend(errors)
    if len(evidence) > MAX_EVIDENCE:
        evidence = evidence[:MAX_EVIDENCE] + [f"... and {len(evidence) - MAX_EVIDENCE} more lines (kubectl get pods -n kube-system -l k8s-app=kube-proxy -o wide)"]
    hard = list(dict.fromkeys(hard))
    soft = [n for n in dict.fromkeys(soft) if n not in hard]

    if not hard and not soft:
        return Finding(
            ID,
            Status.PASS,
            f"kube-proxy is ready on all {len(target_nodes)} target node(s)",
            evidence=evidence + [f"Node {n}: kube-proxy ready" for n in target_nodes[:10]],
        )
    # A restart is offered only where kube-proxy is on the load balancer's path (NodePort targets): with ip
    # targets or TKE direct access it would not change what the load balancer sees.
    fix = _restart_fix(ds) if ds is not None and instance else None
    status = Status.FAIL if hard and instance else Status.WARN
    if hard:
        summary = f"kube-proxy is down or not ready on {len(hard)} of {len(target_nodes)} target node(s) ({', '.join(hard[:3])}): NodePort traffic there is not forwarded"
    else:
        summary = f"kube-proxy is restarting or logging errors on {len(soft)} of {len(target_nodes)} target node(s) ({', '.join(soft[:3])}): its rules may be stale"
    if not instance:
        summary += " (no NodePort targets: affects in-cluster traffic, not the load balancer's health checks)"
    first = (hard or soft)[0]
    first_pod = next((name_of(p) for p in by_node.get(first, [])), None)
    look = (
        f"kubectl logs -n kube-system {first_pod} --tail=50"
        if first_pod
        else f"kubectl get pods -n kube-system -l k8s-app=kube-proxy -o wide --field-selector spec.nodeName={first}"
    )
    if fix:
        then = "then restart it with the fix below"
    elif instance:
        then = "then restart it: kubectl rollout restart daemonset/kube-proxy -n kube-system"
    else:
        then = "it carries in-cluster traffic only, not the load balancer's"
    if first_pod:
        then = "add --previous for the run that crashed; " + then
    return Finding(
        ID,
        status,
        summary,
        evidence=evidence,
        next_step=f"{look}  ({then})",
        fix=fix,
        cause="kube-proxy" if instance else "",
    )
