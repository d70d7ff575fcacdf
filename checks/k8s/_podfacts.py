"""Small, defensive readers of Pod/Service fields shared by the Kubernetes checks.

Objects come from live reads and from hand-written dump files, so every field may be
missing, of the wrong type (`"80"` instead of `80`), or named instead of numbered. These
helpers never raise on such input; they return empty/None and let the check say so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from checks.state import State, meta
from checks.values import as_dict, as_int, as_list, name_of, ns_of, ref  # noqa: F401  (re-exported)


def fmt_selector(selector: dict[str, Any] | None) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(as_dict(selector).items(), key=str)) or "<none>"


def pod_spec(pod: dict[str, Any]) -> dict[str, Any]:
    return as_dict(pod.get("spec"))


def pod_status(pod: dict[str, Any]) -> dict[str, Any]:
    return as_dict(pod.get("status"))


def containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in as_list(pod_spec(pod).get("containers")) if isinstance(c, dict)]


def condition(obj: dict[str, Any], ctype: str) -> dict[str, Any] | None:
    for c in as_list(as_dict(obj.get("status")).get("conditions")):
        if isinstance(c, dict) and c.get("type") == ctype:
            return c
    return None


def pod_ip(pod: dict[str, Any]) -> str:
    return str(pod_status(pod).get("podIP") or "")


def declared_ports(c: dict[str, Any]) -> list[tuple[int | None, str, str]]:
    """A container's declared ports as (containerPort, name, protocol)."""
    out = []
    for p in as_list(c.get("ports")):
        if not isinstance(p, dict):
            continue
        out.append((as_int(p.get("containerPort")), str(p.get("name") or ""), str(p.get("protocol") or "TCP").upper()))
    return out


def fmt_ports(c: dict[str, Any]) -> str:
    parts = []
    for num, pname, proto in declared_ports(c):
        parts.append(f"{num if num is not None else '?'}/{proto}" + (f" ({pname})" if pname else ""))
    return "[" + ", ".join(parts) + "]" if parts else "(none declared)"


def probe_port(c: dict[str, Any], kind: str = "readinessProbe") -> Any:
    probe = as_dict(c.get(kind))
    for handler in ("httpGet", "tcpSocket", "grpc"):
        h = as_dict(probe.get(handler))
        if "port" in h:
            return h.get("port")
    return None


def resolve_port(port: Any, c: dict[str, Any]) -> int | None:
    """A probe/target port (number or name) as a number within one container."""
    n = as_int(port)
    if n is not None:
        return n
    if isinstance(port, str):
        for num, pname, _ in declared_ports(c):
            if pname == port:
                return num
    return None


def log_tail(state: State, namespace: str, pod: str, container: str, previous: bool, lines: int = 5) -> list[str]:
    text = state.k8s.logs.get((namespace, pod, container, previous))
    if not isinstance(text, str) or not text.strip():
        return []
    return [ln.rstrip() for ln in text.strip().splitlines() if ln.strip()][-lines:]


@dataclass
class PodHealth:
    """Why a pod is (not) a healthy backend, in words for an incident channel."""

    pod: dict[str, Any]
    ready: bool
    phase: str
    short: str  # "CrashLoopBackOff", "Pending: 0/3 nodes are available: ...", "ready"
    details: list[str] = field(default_factory=list)
    restarts: int = 0
    hard: bool = False  # crash, image, scheduling, OOM: will not heal by waiting
    gated_only: bool = False  # containers ready, but a readiness gate holds the pod back
    mechanisms: tuple[str, ...] = ()
    restarting: list[tuple[str, int, str]] = field(default_factory=list)  # (container, count, last reason)

    @property
    def name(self) -> str:
        return name_of(self.pod)


_IMAGE_REASONS = {"ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull", "RegistryUnavailable"}
_CRASH_REASONS = {"CrashLoopBackOff", "RunContainerError", "CreateContainerError", "CreateContainerConfigError"}


def _term_text(term: dict[str, Any]) -> str:
    reason = term.get("reason") or "terminated"
    bits = [str(reason)]
    if term.get("exitCode") is not None:
        bits.append(f"exit code {term.get('exitCode')}")
    if term.get("finishedAt"):
        bits.append(f"at {term.get('finishedAt')}")
    return ", ".join(bits)


def pod_health(pod: dict[str, Any]) -> PodHealth:
    st = pod_status(pod)
    pname = ref(pod)
    phase = str(st.get("phase") or "Unknown")
    ready_cond = condition(pod, "Ready")
    statuses = [s for s in as_list(st.get("containerStatuses")) if isinstance(s, dict)]
    init_statuses = [s for s in as_list(st.get("initContainerStatuses")) if isinstance(s, dict)]
    if ready_cond is not None:
        ready = ready_cond.get("status") == "True"
    else:
        ready = phase == "Running" and bool(statuses) and all(s.get("ready") is True for s in statuses)
    details: list[str] = []
    reasons: list[str] = []
    mechanisms: set[str] = set()
    hard = False
    restarts = 0
    restarting: list[tuple[str, int, str]] = []

    if meta(pod).get("deletionTimestamp"):
        reasons.append("Terminating")
        details.append(f"Pod {pname} metadata.deletionTimestamp = {meta(pod).get('deletionTimestamp')}")

    sched = condition(pod, "PodScheduled")
    if phase == "Pending" and sched is not None and sched.get("status") == "False":
        msg = sched.get("message") or sched.get("reason") or "not scheduled"
        reasons.append(f"Pending, not scheduled: {msg}")
        details.append(f"Pod {pname} condition PodScheduled = False, reason={sched.get('reason')}: {msg}")
        hard = True

    for s in init_statuses:
        state_ = as_dict(s.get("state"))
        waiting = as_dict(state_.get("waiting"))
        if waiting and waiting.get("reason") not in (None, "PodInitializing"):
            reasons.append(f"Init:{waiting.get('reason')} (init container {s.get('name')})")
            details.append(f"Pod {pname} init container {s.get('name')} waiting: {waiting.get('reason')}: {waiting.get('message') or ''}".rstrip(": "))
            hard = hard or waiting.get("reason") in _IMAGE_REASONS | _CRASH_REASONS

    for s in statuses:
        cname = s.get("name") or "?"
        state_ = as_dict(s.get("state"))
        waiting = as_dict(state_.get("waiting"))
        terminated = as_dict(state_.get("terminated"))
        last_term = as_dict(as_dict(s.get("lastState")).get("terminated"))
        count = as_int(s.get("restartCount")) or 0
        restarts += count
        if count:
            restarting.append((cname, count, _term_text(last_term) if last_term else "unknown"))
        if waiting:
            wr = str(waiting.get("reason") or "Waiting")
            text = wr
            if wr == "CrashLoopBackOff" and last_term:
                text = f"CrashLoopBackOff (last exit: {last_term.get('reason') or 'Error'})"
            reasons.append(text + (f" in container {cname}" if len(statuses) > 1 else ""))
            details.append(f"Pod {pname} container {cname} state.waiting.reason = {wr}" + (f": {waiting.get('message')}" if waiting.get("message") else ""))
            if wr in _IMAGE_REASONS or wr in _CRASH_REASONS:
                hard = True
            if wr in _CRASH_REASONS:
                mechanisms.add("app-error")
        elif terminated:
            reasons.append(f"container {cname} terminated ({_term_text(terminated)})")
            details.append(f"Pod {pname} container {cname} state.terminated = {_term_text(terminated)}")
            hard = True
            mechanisms.add("app-error")
        elif s.get("ready") is not True and phase == "Running":
            started = as_dict(state_.get("running")).get("startedAt")
            reasons.append("running but not ready (readiness probe failing)" + (f" in container {cname}" if len(statuses) > 1 else ""))
            details.append(f"Pod {pname} container {cname} running since {started or '?'} but ready = false")
            mechanisms.add("app-error")
        if last_term:
            details.append(f"Pod {pname} container {cname} restartCount = {count}, lastState.terminated = {_term_text(last_term)}")
            if last_term.get("reason") == "OOMKilled":
                mechanisms.add("app-error")
                if waiting or not s.get("ready"):
                    hard = True

    if phase in ("Failed", "Succeeded", "Unknown") and not reasons:
        reasons.append(f"phase {phase}" + (f": {st.get('reason')}" if st.get("reason") else ""))
        details.append(f"Pod {pname} status.phase = {phase}" + (f", reason={st.get('reason')}: {st.get('message') or ''}" if st.get("reason") else ""))
        hard = True
    if phase == "Pending" and not reasons:
        reasons.append("Pending (containers not started yet)")
        details.append(f"Pod {pname} status.phase = Pending")

    gated_only = False
    if not ready and not reasons:
        all_containers_ready = bool(statuses) and all(s.get("ready") is True for s in statuses)
        gates = [g.get("conditionType") for g in as_list(pod_spec(pod).get("readinessGates")) if isinstance(g, dict)]
        if all_containers_ready and gates:
            gated_only = True
            pending = [g for g in gates if (condition(pod, g) or {}).get("status") != "True"]
            reasons.append("containers ready, held back by readiness gate " + ", ".join(str(g) for g in pending or gates))
            details.append(f"Pod {pname} condition Ready = False: {(ready_cond or {}).get('message') or 'readiness gates not all True'}")
        else:
            msg = (ready_cond or {}).get("message") or (ready_cond or {}).get("reason") or ""
            reasons.append("not ready" + (f": {msg}" if msg else ""))
            details.append(f"Pod {pname} condition Ready = {(ready_cond or {}).get('status', 'absent')}" + (f": {msg}" if msg else ""))
    if not ready:
        mechanisms.add("pods-not-ready")

    short = "; ".join(dict.fromkeys(" ".join(r.split()) for r in reasons)) if reasons else ("ready" if ready else "not ready")
    return PodHealth(
        pod=pod,
        ready=ready,
        phase=phase,
        short=short,
        details=details,
        restarts=restarts,
        hard=hard,
        gated_only=gated_only,
        mechanisms=tuple(sorted(mechanisms)),
        restarting=restarting,
    )
