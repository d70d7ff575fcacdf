"""Order findings so the most probable root cause comes first.

A failing finding's score is the check's prior (how often a failure there is the cause, from
its registry `severity`), plus its status, plus a bonus for every other failing finding whose
evidence `supports` the mechanism it names as `cause`. Agreement across layers (the ELB says
404, the probe sees 404 on `/`, readiness uses `/healthz`) therefore beats a single loud signal.
"""

from __future__ import annotations

from collections.abc import Mapping

from checks.model import Finding, Status, Verdict

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


def rank(findings: list[Finding], priors: Mapping[str, int]) -> tuple[list[Finding], Verdict]:
    for f in findings:
        f.score = score(f, findings, priors)
    ordered = sorted(findings, key=lambda f: (GROUP[f.status], -f.score, f.check_id))
    return ordered, verdict_of(ordered)


def verdict_of(ordered: list[Finding]) -> Verdict:
    # The top-ranked failing finding is the verdict even when it is a warning: a symptom that
    # "fails" (targets unhealthy) must not hide the cause that explains it.
    top = next((f for f in ordered if f.failing), None)
    if top:
        return Verdict(top.status, top.check_id, top.summary)
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
