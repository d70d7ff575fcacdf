"""Helpers the probe checks share: which results count, why none do, and evidence lines."""

from __future__ import annotations

from checks.model import Finding, Status
from checks.probe._targets import NOT_PROBED, is_not_probed
from checks.state import ProbeResult, State

MAX_EVIDENCE = 10
IN_CLUSTER = "From a pod in the cluster (e.g. `kubectl run -n {ns} lbhealth-curl -it --rm --restart=Never --image=curlimages/curl -- sh`): "


def split(state: State, kind: str) -> tuple[list[ProbeResult], list[ProbeResult]]:
    """(probed results, not-probed results) of one kind."""
    done, skipped = [], []
    for r in state.probes:
        if getattr(r, "kind", None) != kind:
            continue
        (skipped if is_not_probed(r) else done).append(r)
    return done, skipped


def not_run(state: State, check_id: str) -> Finding | None:
    """A skip finding when probes did not run at all (offline, --no-probe, nothing to probe)."""
    reason = state.skipped_reads.get("probe") or state.read_errors.get("probe")
    if reason:
        return Finding(check_id, Status.SKIP, f"Probes did not run: {reason}")
    if not state.options.get("probe") and not state.probes:
        return Finding(check_id, Status.SKIP, "Probes did not run: " + ("offline dump: probes need the live network" if state.options.get("offline") else "--no-probe given"))
    return None


def skipped_note(skipped: list[ProbeResult]) -> list[str]:
    """One evidence line per distinct reason targets were not probed."""
    reasons: dict[str, int] = {}
    for r in skipped:
        why = r.error[len(NOT_PROBED):] if r.error.startswith(NOT_PROBED) else r.error
        reasons[why] = reasons.get(why, 0) + 1
    return [f"{n} target(s) not probed: {why}" for why, n in reasons.items()]


def capped(lines: list[str], limit: int = MAX_EVIDENCE) -> list[str]:
    if len(lines) <= limit:
        return lines
    return lines[:limit] + [f"... and {len(lines) - limit} more"]


def classify(r: ProbeResult) -> str:
    """'ok' | 'code' | 'slow' | 'timeout' | 'refused' | 'reset' | 'tls' | 'other'."""
    if r.ok:
        return "ok"
    err = (r.error or "").lower()
    if r.status_code is not None:
        return "code" if "not in" in err else "slow"
    if err.startswith("timeout"):
        return "timeout"
    if "refused" in err:
        return "refused"
    if "reset" in err or "closed without" in err:
        return "reset"
    if err.startswith("tls"):
        return "tls"
    return "other"


NETWORK = ("network-sg", "network-policy", "kube-proxy")
CLOSED_PORT = ("targetport", "listen-localhost", "pods-not-ready")
