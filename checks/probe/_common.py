"""Helpers the probe checks share: which results count, why none do, and evidence lines."""

from __future__ import annotations

from checks.model import Finding, Status
from checks.probe._targets import NOT_PROBED, SKIP_ALLOW, SKIP_CAP, SKIP_LISTEN
from checks.state import ProbeResult, State

MAX_EVIDENCE = 10
IN_CLUSTER = "From a pod in the cluster (e.g. `kubectl run -n {ns} lbhealth-curl -it --rm --restart=Never --image=curlimages/curl -- sh`): "


def split(state: State, kind: str) -> tuple[list[ProbeResult], list[str]]:
    """(results of one kind, notes on targets not probed for it).

    Notes come from state.skipped_reads ("probe.cap", "probe.allow"; "probe.listen" for listen).
    """
    done = [r for r in state.probes if getattr(r, "kind", None) == kind]
    keys = (SKIP_LISTEN,) if kind == "listen" else (SKIP_CAP, SKIP_ALLOW)
    notes = [NOT_PROBED + state.skipped_reads[k] for k in keys if state.skipped_reads.get(k)]
    return done, notes


def not_run(state: State, check_id: str) -> Finding | None:
    """A skip finding when probes did not run at all (offline, --no-probe, nothing to probe)."""
    reason = state.skipped_reads.get("probe") or state.read_errors.get("probe")
    if reason:
        return Finding(check_id, Status.SKIP, f"Probes did not run: {reason}")
    if not state.options.get("probe") and not state.probes:
        return Finding(check_id, Status.SKIP, "Probes did not run: " + ("offline dump: probes need the live network" if state.options.get("offline") else "--no-probe given"))
    return None


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
