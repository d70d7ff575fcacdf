"""Run the applicable checks over collected state, each in isolation, and build the report.

A crashing check yields an `error` finding naming the exception; it never crashes the
diagnosis. A check whose required reads failed or were not collected is not called: checks/gating.py
answers for it (`error` with the grant, `skip` with the command that supplies the read). When the Service does not exist, the Kubernetes checks that need it are skipped
(one clear "not found" beats twenty confused failures) while cloud checks still run, so an
alarm whose load balancer maps to no Service is still diagnosed on the cloud side.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from checks.gating import gate
from checks.model import Finding, Report, Status, Target, no_api_calls
from checks.providers import provider
from checks.rank import rank
from checks.registry import CheckSpec, Registry, default_registry
from checks.state import State
from checks.textsafe import clean_finding

log = logging.getLogger(__name__)

SERVICE_CHECK = "K8S-SVC-EXISTS"


def select(registry: Registry, *, only: Iterable[str] | None = None) -> list[CheckSpec]:
    """The checks to run: all of them, or `only` those IDs (opt-in ones then skip in run_one)."""
    wanted = set(only or ())
    return [s for s in registry.all() if not wanted or s.id in wanted]


def run_one(spec: CheckSpec, state: State) -> list[Finding]:
    if spec.opt_in and not state.options.get("node"):
        return [
            Finding(
                spec.id,
                Status.SKIP,
                "Node checks are off (enable them with --node; they start a short-lived pod on each target node)",
            )
        ]
    if (
        state.service is None
        and spec.id != SERVICE_CHECK
        and any(r.startswith("k8s.") for r in spec.all_reads)
        and provider(spec.layer) is None
    ):
        return [Finding(spec.id, Status.SKIP, f"Service {state.target.ref} was not found")]
    stand_in = gate(spec, state)
    if stand_in is not None:
        stand_in.symptom = spec.symptom
        return [stand_in]
    try:
        result = spec.func(state)
    except Exception as exc:  # a check bug must not take the diagnosis down
        # The traceback only at DEBUG: the CLI logs to the terminal, where no traceback may reach a user.
        log.error("check %s crashed: %s: %s", spec.id, type(exc).__name__, exc)
        log.debug("check %s crashed", spec.id, exc_info=True)
        return [
            Finding(
                spec.id,
                Status.ERROR,
                f"The check crashed ({type(exc).__name__}: {exc})",
                next_step="Report this with the dump from `lbhealth snapshot` so it can be reproduced",
            )
        ]
    if result is None:
        findings: list[Finding] = []
    elif isinstance(result, Finding):
        findings = [result]
    else:
        findings = list(result)
    if not findings:
        findings = [Finding(spec.id, Status.SKIP, "Not applicable to this Service")]
    for f in findings:
        f.check_id = spec.id
        f.symptom = spec.symptom
    return [clean_finding(f) for f in findings]


def run_checks(state: State, specs: list[CheckSpec]) -> list[Finding]:
    findings: list[Finding] = []
    for spec in specs:
        findings.extend(run_one(spec, state))
    return findings


def build_report(
    state: State, specs: list[CheckSpec], started: float, severity: Mapping[str, int] | None = None
) -> Report:
    from checks.deciding import missing_reads
    from checks.lbview import cloud_conflicts, detect_cloud

    findings = run_checks(state, specs)
    priors = {s.id: s.severity for s in specs}
    priors.update(severity or {})
    missing = missing_reads(state, specs, findings)
    ordered, verdict = rank(findings, priors, missing=missing)
    notes = cloud_conflicts(state) + list(state.notes)
    if missing and verdict.status != Status.INCOMPLETE:
        notes.append(
            "Not read: " + ", ".join(dict.fromkeys(m.what for m in missing))
            + " (see the skipped checks for how to get them); other causes may hide behind the one found"
        )
    calls = {source: state.api_calls.get(source, 0) for source in no_api_calls()}
    return Report(
        target=state.target,
        verdict=verdict,
        findings=ordered,
        api_calls=calls,
        duration_ms=int((time.monotonic() - started) * 1000),
        cloud=detect_cloud(state),
        notes=notes,
        missing=missing,
    )


def diagnose(
    target: Target,
    *,
    sources: list[str] | None = None,
    context: str | None = None,
    probe: bool = True,
    node: bool = False,
    only: Iterable[str] | None = None,
    registry: Registry | None = None,
    severity: Mapping[str, int] | None = None,
    clients: Any = None,
    options: Mapping[str, Any] | None = None,
) -> tuple[Report, State]:
    """Collect state (live or from dump files) and run the catalogue. Returns the report and the state read.

    `options` adds to State.options (e.g. an alarm's load balancer: "aws_target_groups", "tencent_lb").
    """
    started = time.monotonic()
    registry = registry or default_registry()
    specs = select(registry, only=only)
    options = {
        **dict(options or {}),
        "probe": probe and not sources,
        "node": node,
        "offline": bool(sources),
        "context": context,
    }
    # Each collector is imported only when used: a live run does not pay for the dump parsers.
    if sources:
        from checks.collect import dump

        state = dump.load_state(target, sources, options=options, skim_lists=True)
    else:
        from checks.collect import live

        state = live.collect(target, specs, options=options, clients=clients)
    return build_report(state, specs, started, severity), state
