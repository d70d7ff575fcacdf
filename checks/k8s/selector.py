"""K8S-SELECTOR: the Service's selector matches at least one pod.

Why it matters (seed step "Verify service and pod label selectors"): the endpoints
controller only publishes pods whose labels match the selector. One wrong label value
(`app=alb-instance-1` for pods labelled `app=alb-instance`) leaves the Service with no
endpoints, every target unregistered or unhealthy, and nothing in the pods looks wrong.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

from checks.gating import failed
from checks.k8s._podfacts import as_dict, fmt_selector, name_of
from checks.model import Finding, Status
from checks.registry import check
from checks.state import State, meta

ID = "K8S-SELECTOR"
# Labels every ReplicaSet/StatefulSet adds; never useful in a Service selector.
NOISE = {"pod-template-hash", "controller-revision-hash", "statefulset.kubernetes.io/pod-name", "pod-template-generation"}


def _labels(pod: dict[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in as_dict(meta(pod).get("labels")).items()}


def _near_miss(selector: dict[str, str], labels: dict[str, str]) -> tuple[int, list[str], dict[str, Any]]:
    """(mismatches, human differences, selector patch that would select this pod)."""
    diffs: list[str] = []
    patch: dict[str, Any] = {}
    matched = 0
    for key, want in sorted(selector.items()):
        have = labels.get(key)
        if have == want:
            matched += 1
            continue
        if have is not None:
            diffs.append(f"{key}={want} (Service) vs {key}={have} (pod)")
            patch[key] = have
            continue
        similar = difflib.get_close_matches(key, list(labels), n=1, cutoff=0.7)
        if similar and labels[similar[0]] == want:
            diffs.append(f"label key '{key}' (Service) vs '{similar[0]}' (pod), value {want}")
            patch[key] = None
            patch[similar[0]] = want
        else:
            diffs.append(f"{key}={want} (Service) vs no '{key}' label (pod)")
            patch[key] = None
    return len(selector) - matched, diffs, patch


def _similarity(selector: dict[str, str], labels: dict[str, str]) -> float:
    a = fmt_selector(selector)
    b = fmt_selector({k: v for k, v in labels.items() if k not in NOISE})
    return difflib.SequenceMatcher(None, a, b).ratio()


@check(
    ID,
    title="The Service selector matches pods",
    seed="Verify service and pod label selectors",
    reads=("k8s.service", "k8s.pods"),
    uses=("k8s.namespace_pods",),
    severity=90,
)
def selector(state: State) -> Finding:
    """A selector that matches no pod leaves the Service without endpoints: every target fails."""
    svc = state.service or {}
    spec = as_dict(svc.get("spec"))
    ns, name = state.target.namespace, state.target.service
    sel = {str(k): str(v) for k, v in as_dict(spec.get("selector")).items()}
    if spec.get("type") == "ExternalName":
        return Finding(ID, Status.SKIP, f"Service {state.target.ref} is of type ExternalName: it has no selector or endpoints")
    if not sel:
        return Finding(
            ID,
            Status.SKIP,
            f"Service {state.target.ref} has no selector: its endpoints are managed by hand (or by another controller)",
            evidence=[f"Service {state.target.ref} spec.selector is empty"],
        )
    if "k8s.namespace_pods" in state.read_errors:  # the near miss needs them once the selector matches nothing
        return failed(ID, state, "k8s.namespace_pods")

    selected = state.selected_pods
    sel_text = fmt_selector(sel)
    evidence = [f"Service {state.target.ref} spec.selector = {json.dumps(sel, sort_keys=True)}"]
    if selected:
        names = ", ".join(sorted(name_of(p) for p in selected)[:8]) + (f" and {len(selected) - 8} more" if len(selected) > 8 else "")
        evidence.append(f"Pods matching {sel_text}: {names}")
        return Finding(ID, Status.PASS, f"Selector {sel_text} matches {len(selected)} pod(s)", evidence=evidence)

    pods = state.namespace_pods
    terminating = [p for p in pods if meta(p).get("deletionTimestamp") and all(_labels(p).get(k) == v for k, v in sel.items())]
    if not pods:
        evidence.append(f"Namespace {ns} has no pods at all (as read with the bot's permissions)")
        return Finding(
            ID,
            Status.FAIL,
            f"Service {state.target.ref} selects no pod: namespace {ns} has no pods at all",
            evidence=evidence,
            next_step=f"Find where the workload runs: kubectl get pods -A -l {sel_text}; deploy it to {ns} or point the Service at it",
            cause="selector",
        )
    if terminating:
        evidence.append(f"Only terminating pods match: {', '.join(sorted(name_of(p) for p in terminating))}")

    # Group pods by their (noise-free) label set so the evidence stays short.
    groups: dict[str, list[str]] = {}
    for p in sorted(pods, key=name_of):
        key = fmt_selector({k: v for k, v in _labels(p).items() if k not in NOISE})
        groups.setdefault(key, []).append(name_of(p))
    for labels_text, names in list(groups.items())[:10]:
        shown = ", ".join(names[:3]) + (f" (+{len(names) - 3})" if len(names) > 3 else "")
        evidence.append(f"Pods {shown} labels = {labels_text}")
    if len(groups) > 10:
        evidence.append(f"... and {len(groups) - 10} more label sets in namespace {ns}")

    candidates = []
    for p in pods:
        if meta(p).get("deletionTimestamp"):
            continue
        labels = _labels(p)
        misses, diffs, patch = _near_miss(sel, labels)
        candidates.append((misses, -_similarity(sel, labels), name_of(p), diffs, patch))
    candidates.sort(key=lambda c: (c[0], c[1], c[2]))
    best = candidates[0] if candidates else None
    if best is not None and (best[0] < len(sel) or -best[1] >= 0.6):
        misses, _sim, pod_name, diffs, patch = best
        evidence.append(f"Near miss: pod {pod_name}: " + "; ".join(diffs))
        body = json.dumps({"spec": {"selector": patch}}, separators=(",", ":"))
        next_step = (
            f"If {pod_name} is the intended backend, point the Service at it: "
            f"kubectl patch svc {name} -n {ns} --type=merge -p '{body}'  "
            f"(or fix the labels in the pod template of its Deployment instead)"
        )
        summary = f"Selector {sel_text} matches no pod in {ns}; near miss: {diffs[0] if diffs else pod_name}"
    else:
        next_step = f"kubectl get pods -n {ns} --show-labels  (then set spec.selector of Service {name} to the labels of the pods meant to serve it)"
        summary = f"Selector {sel_text} matches none of the {len(pods)} pods in namespace {ns}"
    return Finding(ID, Status.FAIL, summary, evidence=evidence, next_step=next_step, cause="selector")
