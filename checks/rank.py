"""Order findings so the most probable root cause comes first, and decide the verdict.

A failing finding's score is the check's prior (how often a failure there is the cause, from
its registry `severity`), plus its status, plus a bonus for every other failing finding whose
evidence `supports` the mechanism it names as `cause`. Agreement across layers (the ELB says
404, the probe sees 404 on `/`, readiness uses `/healthz`) therefore beats a single loud signal.

Above the score sits one rule: a cause with evidence always outranks a symptom. Findings of
checks declared `symptom=True` (targets unhealthy, no endpoints, warning events) and warnings
that claim no cause rank after every failure and every warning that names a cause, whatever
their scores: the load balancer saying "unhealthy" is what the engineer already knows.

The verdict is `incomplete` when nothing fails but a read that decides the common causes was
missing or denied (`checks.deciding`): a warning is then never promoted to root cause.
"""

from __future__ import annotations

from collections.abc import Mapping

from checks.model import Finding, Missing, Status, Verdict

STATUS_WEIGHT = {Status.FAIL: 100.0, Status.WARN: 40.0, Status.ERROR: 5.0, Status.SKIP: 0.0, Status.PASS: 0.0}
CORROBORATION = 30.0
GROUP = {Status.FAIL: 0, Status.WARN: 0, Status.ERROR: 1, Status.SKIP: 2, Status.PASS: 3}


def score(finding: Finding, others: list[Finding], priors: Mapping[str, int]) -> float:
    value = STATUS_WEIGHT[finding.status] + priors.get(finding.check_id, 50)
    if finding.failing and finding.cause:
        agreeing = {
            o.check_id for o in others if o is not finding and o.failing and finding.cause in o.supports
        }
        agreeing.discard(finding.check_id)
        value += CORROBORATION * len(agreeing)
    if finding.fix:
        value += 5
    return value


def is_cause(finding: Finding) -> bool:
    """A failing finding that explains the incident rather than restating it."""
    if not finding.failing or finding.symptom:
        return False
    return finding.status == Status.FAIL or bool(finding.cause)


def rank(
    findings: list[Finding],
    priors: Mapping[str, int],
    *,
    missing: list[Missing] | None = None,
) -> tuple[list[Finding], Verdict]:
    for f in findings:
        f.score = score(f, findings, priors)
    ordered = sorted(
        findings,
        key=lambda f: (GROUP[f.status], 0 if is_cause(f) else 1, -f.score, f.check_id),
    )
    return ordered, verdict_of(ordered, missing or [])


def _incomplete(missing: list[Missing]) -> Verdict:
    whats = []
    for m in missing:
        if m.what not in whats:
            whats.append(m.what)
    many = len(whats) > 1
    return Verdict(
        Status.INCOMPLETE,
        None,
        f"Could not decide: no check failed on what was read, but {', '.join(whats)} {'are' if many else 'is'} missing; "
        f"without {'them' if many else 'it'} the common causes cannot be ruled out",
    )


def verdict_of(ordered: list[Finding], missing: list[Missing]) -> Verdict:
    # The top-ranked failing finding is the verdict even when it is a warning (traffic policy
    # Local explains the unhealthy nodes), but only when the deciding reads were all available:
    # otherwise an unrelated warning would pose as the root cause of what was never looked at.
    if any(f.status == Status.FAIL for f in ordered) or not missing:
        top = next((f for f in ordered if f.failing), None)
        if top:
            return Verdict(top.status, top.check_id, top.summary)
    if missing:
        return _incomplete(missing)
    if any(f.status == Status.PASS for f in ordered):
        errors = [f for f in ordered if f.status == Status.ERROR]
        summary = "No failing check: the Service and its load balancer look healthy"
        if errors:
            summary += f" ({len(errors)} check(s) could not run; see below)"
        return Verdict(Status.PASS, None, summary)
    first_error = next((f for f in ordered if f.status == Status.ERROR), None)
    if first_error:
        return Verdict(Status.ERROR, first_error.check_id, "Could not diagnose: " + first_error.summary)
    return Verdict(Status.SKIP, None, "No check applied to this Service")
