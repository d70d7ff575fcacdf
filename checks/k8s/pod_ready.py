"""K8S-POD-READY: the pods behind the Service are Running and their containers ready.

Why it matters (seed step "Check the pod status"): a load balancer health check can only
pass if the application in the pod runs. A pod stuck in CrashLoopBackOff, ImagePullBackOff,
Pending (no node fits it) or killed for memory is the root cause of its targets failing, and
the last termination reason plus the tail of the previous container's log usually says why.
"""

from __future__ import annotations

from checks.k8s._podfacts import (
    PodHealth,
    as_dict,
    as_list,
    fmt_selector,
    log_tail,
    ns_of,
    pod_health,
    pod_status,
    ref,
)
from checks.model import Finding, Status
from checks.registry import check
from checks.state import State

ID = "K8S-POD-READY"
MAX_DETAILED = 8  # pods shown in full; the rest are named
RESTART_WARN = 3  # restarts at or above this (or any OOMKill) are worth a warning on a ready pod


def _logs(state: State, h: PodHealth) -> list[str]:
    out = []
    for cname, _count, _last in h.restarting:
        tail = log_tail(state, ns_of(h.pod), h.name, cname, True)
        if tail:
            out.append(f"Previous log of {ref(h.pod)} container {cname} (last {len(tail)} lines):")
            out.extend(f"  | {line}" for line in tail)
    if not out and not h.ready:
        for c in as_list(as_dict(h.pod.get("spec")).get("containers")):
            cname = (c or {}).get("name") if isinstance(c, dict) else None
            tail = log_tail(state, ns_of(h.pod), h.name, cname or "", False) if cname else []
            if tail:
                out.append(f"Current log of {ref(h.pod)} container {cname} (last {len(tail)} lines):")
                out.extend(f"  | {line}" for line in tail)
    return out


def _logs_command(first: PodHealth, ns: str) -> str:
    """`kubectl logs --previous` of the crashing container: with more than one container in the pod,
    kubectl refuses to guess and asks for -c."""
    statuses = [s for s in as_list(pod_status(first.pod).get("containerStatuses")) if isinstance(s, dict)]
    crashed = next((str(s.get("name")) for s in statuses
                    if as_dict(as_dict(s.get("state")).get("waiting")).get("reason") == "CrashLoopBackOff"
                    or as_dict(s.get("lastState")).get("terminated")), None)
    flag = f" -c {crashed}" if crashed and len(statuses) > 1 else ""
    return f"kubectl logs {first.name} -n {ns}{flag} --previous"


def _next_step(ns: str, bad: list[PodHealth]) -> str:
    """One command for the first unready pod, by why it is not ready; the advice after it in parentheses."""
    first = bad[0]
    text = first.short
    name = first.name
    if "Pending, not scheduled" in text:
        return f"kubectl describe pod {name} -n {ns}  (see Events: free capacity, fix taints/affinity/requests, or add nodes)"
    if any(r in text for r in ("ImagePull", "ErrImage", "InvalidImageName")):
        return f"kubectl describe pod {name} -n {ns}  (check the image name/tag and the registry pull secret)"
    if "OOMKilled" in text or any("OOMKilled" in last for _c, _n, last in first.restarting):
        return f"{_logs_command(first, ns)}  (it ran out of memory: raise resources.limits.memory of the container, or fix the leak)"
    if "CrashLoopBackOff" in text or "terminated" in text:
        return f"{_logs_command(first, ns)}  (the app exits on start: fix its config/crash)"
    if "readiness gate" in text:
        return f"kubectl get pod {name} -n {ns} -o jsonpath='{{.status.conditions}}'  (see K8S-READINESS-GATE: the load balancer marks the target unhealthy)"
    return f"kubectl describe pod {name} -n {ns}  (readiness probe failures are in its Events)"


def _status_unknown(pod: dict) -> bool:
    """No status, or a running pod's status without conditions and container statuses (which the
    API always reports for it): nothing says whether the pod is ready."""
    st = pod.get("status")
    if not isinstance(st, dict) or not st:
        return True
    return st.get("phase") not in ("Pending", "Failed", "Succeeded") and not st.get("conditions") and not st.get("containerStatuses")


@check(
    ID,
    title="Selected pods are Running and ready",
    seed="Check the pod status",
    reads=("k8s.service", "k8s.pods"),
    uses=("k8s.logs",),
    decides=("k8s.pods",),
    severity=85,
)
def pod_ready(state: State) -> Finding:
    """Pods not Running/ready (CrashLoopBackOff, ImagePullBackOff, Pending, OOMKilled) fail their LB health checks."""
    ns = state.target.namespace
    if not state.selector:
        return Finding(ID, Status.SKIP, f"Service {state.target.ref} has no selector, so it selects no pods to check")
    pods = state.selected_pods
    if not pods:
        return Finding(
            ID,
            Status.SKIP,
            f"No pod matches selector {fmt_selector(state.selector)}; see K8S-SELECTOR",
        )

    # A Pod without status (hand-written, or a dump cut inside it) says nothing about readiness:
    # calling it not ready would blame the pod for what the dump lacks.
    unknown = sorted(ref(p) for p in pods if _status_unknown(p))
    health = [pod_health(p) for p in sorted(pods, key=lambda p: ref(p)) if ref(p) not in unknown]
    if unknown and not health:
        # `error`, not `skip`: the pods were read but say nothing, so the verdict cannot be "healthy".
        return Finding(
            ID,
            Status.ERROR,
            f"No status for the {len(unknown)} pod(s) of {state.target.ref} ({', '.join(unknown[:3])}): their readiness is unknown",
            next_step=f"kubectl get pods -n {ns} -o yaml  (the whole output: a pod's status comes last)",
        )
    bad = [h for h in health if not h.ready]
    ready_n = len(health) - len(bad)

    if bad:
        gated_only = all(h.gated_only for h in bad)
        evidence = [f"{ready_n} of {len(health)} pods selected by {fmt_selector(state.selector)} are ready"]
        if unknown:
            evidence.append(f"no status in the dump, readiness unknown: {', '.join(unknown[:5])}")
        for h in bad[:MAX_DETAILED]:
            evidence.append(f"Pod {ref(h.pod)} phase {h.phase}: {h.short}")
            evidence.extend(h.details)
            evidence.extend(_logs(state, h))
        if len(bad) > MAX_DETAILED:
            evidence.append(f"... and {len(bad) - MAX_DETAILED} more pods not ready: " + ", ".join(h.name for h in bad[MAX_DETAILED:MAX_DETAILED + 20]))
        listed = "; ".join(f"{h.name} {h.short}" for h in bad[:3]) + (f"; +{len(bad) - 3} more" if len(bad) > 3 else "")
        mechanisms = sorted({m for h in bad for m in h.mechanisms} - {"pods-not-ready"})
        if gated_only:
            return Finding(
                ID,
                Status.WARN,
                f"{len(bad)} of {len(health)} pods are not ready only because the load balancer has not marked them healthy: {listed}",
                evidence=evidence,
                next_step=_next_step(ns, bad),
            )
        return Finding(
            ID,
            Status.FAIL,
            f"{len(bad)} of {len(health)} pods behind {state.target.ref} are not ready, so their targets fail: {listed}",
            evidence=evidence,
            next_step=_next_step(ns, bad),
            cause="pods-not-ready",
            supports=tuple(mechanisms),
        )

    restarting = [
        h
        for h in health
        if h.restarts >= RESTART_WARN or any("OOMKilled" in last for _c, _n, last in h.restarting)
    ]
    if restarting:
        evidence = []
        for h in restarting[:MAX_DETAILED]:
            for cname, count, last in h.restarting:
                evidence.append(f"Pod {ref(h.pod)} container {cname} restartCount = {count}, last termination: {last}")
            evidence.extend(_logs(state, h))
        first = restarting[0]
        cname, count, last = max(first.restarting, key=lambda x: x[1])
        return Finding(
            ID,
            Status.WARN,
            f"All {len(health)} pods are ready now, but {len(restarting)} keep restarting (e.g. {first.name}/{cname}: {count} restarts, last {last})",
            evidence=evidence,
            next_step=f"kubectl logs {first.name} -n {ns} -c {cname} --previous  (a restarting pod fails health checks while it starts)",
            supports=("app-error",),
        )
    evidence = [f"Pod {ref(h.pod)} Running and ready" + (f" ({h.restarts} restarts)" if h.restarts else "") for h in health[:10]]
    if len(health) > 10:
        evidence.append(f"... and {len(health) - 10} more ready pods")
    if unknown:
        evidence.append(f"no status in the dump, readiness unknown: {', '.join(unknown[:5])}")
        return Finding(ID, Status.PASS, f"{len(health)} pods selected by {state.target.ref} are Running and ready; "
                       f"{len(unknown)} more have no status in the dump", evidence=evidence)
    return Finding(ID, Status.PASS, f"All {len(health)} pods selected by {state.target.ref} are Running and ready", evidence=evidence)
