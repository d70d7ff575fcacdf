"""K8S-EVENTS: recent Warning events on the Service, its pods and its Ingresses.

Why it matters: the kubelet and the controllers say what went wrong in events
(`Readiness probe failed: HTTP probe failed with statuscode: 404`, `FailedDeployModel`,
`SyncLoadBalancerFailed`) long before anyone reads a log. Events are symptoms: this check
never claims a cause, but it names the mechanisms the messages point at so that the ranker
can prefer a root cause that the events agree with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from checks.k8s._lbfacts import controller_step, readiness_probes
from checks.k8s._podfacts import as_dict, as_int, name_of, ns_of
from checks.model import Finding, Status
from checks.registry import check
from checks.state import State, labels_match, meta

ID = "K8S-EVENTS"
MAX_SHOWN = 12

# (regex on "reason: message", mechanisms it is consistent with). First matches win; all matches add up.
PATTERNS: list[tuple[re.Pattern[str], tuple[str, ...]]] = [
    (re.compile(r"(readiness|liveness|startup) probe failed.*(statuscode|status code): ?(3|4)\d\d", re.I), ("pods-not-ready", "healthcheck-path", "app-error")),
    (re.compile(r"(readiness|liveness|startup) probe failed.*(statuscode|status code): ?5\d\d", re.I), ("pods-not-ready", "app-error")),
    (re.compile(r"(readiness|liveness|startup) probe failed.*connection refused", re.I), ("pods-not-ready", "app-error", "listen-localhost", "targetport")),
    (re.compile(r"(readiness|liveness|startup) probe failed.*(timeout|deadline exceeded|timed out)", re.I), ("pods-not-ready", "app-error", "healthcheck-settings")),
    (re.compile(r"(readiness|startup) probe failed", re.I), ("pods-not-ready", "app-error")),
    (re.compile(r"liveness probe failed", re.I), ("app-error",)),
    (re.compile(r"back-?off restarting failed container|crashloopbackoff", re.I), ("pods-not-ready", "app-error")),
    (re.compile(r"oomkill", re.I), ("pods-not-ready", "app-error")),
    (re.compile(r"failedscheduling|insufficient (cpu|memory)|didn't match|untolerated taint", re.I), ("pods-not-ready",)),
    (re.compile(r"errimagepull|imagepullbackoff|failed to pull image|pull access denied", re.I), ("pods-not-ready",)),
    (re.compile(r"security ?group", re.I), ("network-sg", "controller")),
    (re.compile(r"accessdenied|unauthorizedoperation|not authorized|failed(deploy|build)model|"
                r"syncloadbalancerfailed|ensureloadbalancerfailed|creatingloadbalancerfailed|"
                r"failedloadbalancer|failedbackend|failedtogetpod", re.I), ("controller",)),
    (re.compile(r"health ?check", re.I), ("healthcheck-settings",)),
    (re.compile(r"network ?polic", re.I), ("network-policy",)),
    (re.compile(r"failedtoupdateendpoint", re.I), ("controller",)),
    (re.compile(r"failedcreate|exceeded quota|forbidden: .*(violates|denied)", re.I), ("pods-not-ready",)),
]

WORKLOAD_KINDS = {"ReplicaSet", "Deployment", "StatefulSet", "DaemonSet"}

# Mechanism -> next step, in priority order; each gives one command ({...} filled in _next_step).
NEXT_STEPS = {
    "healthcheck-path": "kubectl exec -n {ns} {pod} -- wget -qSO /dev/null {url}  (the app answers its own probe path with a 3xx/4xx: fix the probe or the health-check path)",
    "listen-localhost": "kubectl exec -n {ns} {pod} -- ss -ltn  (connection refused on the pod IP: the app must listen on 0.0.0.0 and on the probed port)",
    "controller": "{controller}",
    "pods-not-ready": "{pod_step}",
}
CRASHED = re.compile(r"back-?off restarting failed container|crashloopbackoff|oomkill|liveness probe failed", re.I)


@dataclass
class Ev:
    kind: str
    name: str
    reason: str
    message: str
    count: int
    last: str

    @property
    def text(self) -> str:
        return f"{self.reason}: {self.message}"


def _normalise(e: dict[str, Any]) -> Ev | None:
    """core/v1 Event and events.k8s.io/v1 Event, as one shape."""
    inv = as_dict(e.get("involvedObject")) or as_dict(e.get("regarding"))
    if not inv:
        return None
    series = as_dict(e.get("series"))
    last = (
        e.get("lastTimestamp")
        or series.get("lastObservedTime")
        or e.get("deprecatedLastTimestamp")
        or e.get("eventTime")
        or e.get("firstTimestamp")
        or meta(e).get("creationTimestamp")
        or ""
    )
    count = as_int(e.get("count")) or as_int(series.get("count")) or as_int(e.get("deprecatedCount")) or 1
    return Ev(
        kind=str(inv.get("kind") or ""),
        name=str(inv.get("name") or ""),
        reason=str(e.get("reason") or ""),
        message=" ".join(str(e.get("message") or e.get("note") or "").split()),  # one line: API messages carry \n\t
        count=count,
        last=str(last),
    )


def _mechanisms(text: str) -> list[str]:
    out: list[str] = []
    for pattern, mechs in PATTERNS:
        if pattern.search(text):
            out.extend(m for m in mechs if m not in out)
    return out


def _next_step(state: State, mechanisms: list[str], pod: str, pod_events: list[Ev], top: Ev) -> str:
    """One command for the mechanism the events point at first (NEXT_STEPS order is priority)."""
    ns = state.target.namespace
    mechanism = next((m for m in NEXT_STEPS if m in mechanisms), None)
    if mechanism is None:
        return f"kubectl get events -n {ns} --field-selector type=Warning --sort-by=.lastTimestamp"
    probes = [r for r in readiness_probes(state) if r.pod == pod] or readiness_probes(state)
    url = f"http://127.0.0.1:{probes[0].port}{probes[0].path}" if probes and probes[0].port else "http://127.0.0.1:PORT/PATH"
    crashed = any(CRASHED.search(e.text) for e in pod_events)
    if pod_events:
        pod_step = f"kubectl logs {pod} -n {ns} --previous" if crashed else f"kubectl describe pod {pod} -n {ns}"
    else:  # no pod has events: the workload that could not create one has them (quota, admission)
        pod_step = f"kubectl describe {top.kind.lower() or 'pod'} {top.name} -n {ns}"
    return NEXT_STEPS[mechanism].format(ns=ns, pod=pod, url=url, controller=controller_step(state), pod_step=pod_step)


@check(
    ID,
    title="Recent Warning events on the Service, its pods and Ingresses",
    seed="beyond",
    reads=("k8s.service", "k8s.events"),
    uses=("k8s.pods", "k8s.ingresses"),
    symptom=True,
    severity=30,
)
def events(state: State) -> Finding:
    """Warning events (probe failures, controller errors) explain what the kubelet and controllers saw."""
    ns, svc_name = state.target.namespace, state.target.service

    # Pods the Service selects, terminating ones included (their events still explain a crash loop).
    pod_names = {name_of(p) for p in state.namespace_pods if labels_match(state.selector, meta(p).get("labels"))}
    ingress_names = {name_of(i) for i in state.ingresses}
    subjects = {("Service", svc_name)} | {("Pod", n) for n in pod_names} | {("Ingress", n) for n in ingress_names}
    # The workloads that own the pods: quota, admission and image errors land on the ReplicaSet.
    owners = {
        (str(o.get("kind")), str(o.get("name")))
        for p in state.namespace_pods
        if name_of(p) in pod_names
        for o in (meta(p).get("ownerReferences") or [])
        if isinstance(o, dict)
    }
    subjects |= owners
    workload_prefix = f"{svc_name}-" if not pod_names else None  # no pod at all: maybe none could be created

    seen: dict[tuple[str, str, str, str], Ev] = {}
    normal = 0
    for raw in state.k8s.of_kind("Event"):
        ev = _normalise(raw)
        if ev is None:
            continue
        inv = as_dict(raw.get("involvedObject")) or as_dict(raw.get("regarding"))
        if (inv.get("namespace") or ns_of(raw)) != ns:
            continue
        by_name = (
            workload_prefix is not None
            and ev.kind in WORKLOAD_KINDS
            and (ev.name == svc_name or ev.name.startswith(workload_prefix))
        )
        if (ev.kind, ev.name) not in subjects and not by_name:
            continue
        if str(raw.get("type") or "Normal") != "Warning":
            normal += 1
            continue
        key = (ev.kind, ev.name, ev.reason, ev.message)
        if key in seen:
            seen[key].count += ev.count
            seen[key].last = max(seen[key].last, ev.last)
        else:
            seen[key] = ev
    warnings = sorted(seen.values(), key=lambda e: (e.last, e.count), reverse=True)
    parts = [f"Service {state.target.ref}", f"its {len(pod_names)} pod(s)"]
    if owners or workload_prefix:
        parts.append("their workloads")
    if ingress_names:
        parts.append(f"Ingress {', '.join(sorted(ingress_names))}")
    scope = ", ".join(parts[:-1]) + " and " + parts[-1]

    if not warnings:
        return Finding(
            ID,
            Status.PASS,
            f"No Warning events on the {scope} (events are kept about an hour)",
            evidence=[f"{normal} Normal event(s) on these objects"],
        )

    mechanisms: list[str] = []
    evidence = []
    for e in warnings[:MAX_SHOWN]:
        evidence.append(f"{e.kind} {ns}/{e.name}: {e.reason} (x{e.count}, last {e.last or '?'}): {e.message}")
        for m in _mechanisms(e.text):
            if m not in mechanisms:
                mechanisms.append(m)
    if len(warnings) > MAX_SHOWN:
        evidence.append(f"... and {len(warnings) - MAX_SHOWN} more Warning events")
    probe_failures = [e for e in warnings if re.search(r"probe failed", e.message, re.I)]
    if probe_failures:
        evidence.insert(0, f"{len(probe_failures)} probe-failure event(s) on pods: " + ", ".join(sorted({e.name for e in probe_failures})[:6]))

    top = warnings[0]
    pod = next((e.name for e in warnings if e.kind == "Pod"), "POD")
    next_step = _next_step(state, mechanisms, pod, [e for e in warnings if e.kind == "Pod" and e.name == pod], warnings[0])
    message = top.message if len(top.message) <= 160 else top.message[:157] + "..."
    return Finding(
        ID,
        Status.WARN,
        f"{len(warnings)} Warning event(s) on the {scope}; latest: {top.kind} {top.name} {top.reason}: {message}",
        evidence=evidence,
        next_step=next_step,
        supports=tuple(mechanisms),
    )
