"""After a write: re-run the originating checks and poll the load balancer's target health.

The polling reads go through `checks` (the collector of the provider in front of the Service:
AWS's and Tencent's DescribeTargetHealth), and each provider counts its own targets
(`Provider.target_health`), so bot/fixes keeps to writing and names no cloud. The time allowed is the load
balancer's own: health-check interval x healthy threshold plus a margin for the controller's
reconcile. Without cloud credentials the re-diagnosis is all there is, and the result says so.
"""

from __future__ import annotations

from typing import Any

from bot.fixes import audit
from bot.fixes.model import FixContext, Preview, Verification
from checks.collect.errors import CollectError
from checks.model import Status, Target
from checks.providers import provider

VERIFY_MARGIN_S = 30.0
DEFAULT_TIMEOUT_S = 120.0  # when the health-check settings were not read
MAX_TIMEOUT_S = 240.0  # a CLB may check every 300 s x 10: past this, say so rather than hold a worker (rq job_timeout 300)


def _timeout(state: Any, cloud: str | None) -> float:
    """Interval x healthy threshold (the longest of the Service's groups / listeners) + margin."""
    p = provider(cloud)
    span = p.settle_s(state) if p else 0.0
    return span + VERIFY_MARGIN_S if span else DEFAULT_TIMEOUT_S


def _health(state: Any, cloud: str | None) -> tuple[int, int] | None:
    """(healthy, total) targets, or None when target health was not read (no credentials, offline)."""
    p = provider(cloud)
    if p is None or p.target_health_read not in state.reads_done or p.target_health_read in state.read_errors:
        return None
    return p.target_health(state)


def _why_not_read(state: Any, cloud: str | None) -> str:
    p = provider(cloud)
    if p is None:
        return "no cloud load balancer was detected"
    return state.why_not_read(p.target_health_read) or "not read"


def verify(p: Preview, ctx: FixContext, *, who: str = "lbhealth", job_id: str = "") -> Verification:
    """Poll until the originating check passes and every target is healthy, or the LB's own time runs out."""
    from checks.runner import diagnose

    target = Target(**p.target)
    started = ctx.clock()
    deadline: float | None = None
    capped, wanted = False, 0.0
    while True:
        try:
            report, state = diagnose(target, context=ctx.clients.context, probe=ctx.probe, clients=ctx.clients)
        except CollectError as exc:
            v = Verification("unverified", f"applied; could not verify: the re-diagnosis failed ({exc})", elapsed_s=ctx.clock() - started)
            break
        elapsed = ctx.clock() - started
        failing = [f for f in report.findings if f.check_id == p.check_id and f.status in (Status.FAIL, Status.WARN, Status.ERROR)]
        health = _health(state, report.cloud)
        if deadline is None:
            wanted = ctx.verify_timeout_s if ctx.verify_timeout_s is not None else _timeout(state, report.cloud)
            deadline = started + min(wanted, MAX_TIMEOUT_S)
            capped = wanted > MAX_TIMEOUT_S
        if health is None:  # no target health to read: the originating check decides, polled as long
            if not failing or ctx.clock() >= deadline:
                v = _without_cloud(p, failing, state, report.cloud, elapsed)
                break
            ctx.sleep(min(ctx.poll_interval_s, max(0.0, deadline - ctx.clock())))
            continue
        healthy, total = health
        if not failing and total and healthy == total:
            v = Verification("verified", f"applied, verified: {healthy}/{total} targets healthy after {elapsed:.0f} s", healthy, total, elapsed)
            break
        if ctx.clock() >= deadline:
            parts = [f"{f.check_id}: {f.summary}" for f in failing] + [f"{healthy}/{total} targets healthy after {elapsed:.0f} s"]
            if capped:
                parts.append(f"the load balancer needs up to {wanted:.0f} s (interval x healthy threshold): diagnose again later")
            v = Verification("still-failing", "applied, still failing: " + "; ".join(parts), healthy, total, elapsed, [f.check_id for f in failing])
            break
        ctx.sleep(min(ctx.poll_interval_s, max(0.0, deadline - ctx.clock())))
    audit.record(ctx.redis, "verification", who=who, fix_id=p.fix_id, target=p.target_ref, digest=p.digest, result=v.status, job_id=job_id,
                 detail=v.message, after_write=True)
    return v


def _without_cloud(p: Preview, failing: list[Any], state: Any, cloud: str | None, elapsed: float) -> Verification:
    why = _why_not_read(state, cloud)
    if failing:
        parts = "; ".join(f"{f.check_id}: {f.summary}" for f in failing)
        return Verification("still-failing", f"applied, still failing after {elapsed:.0f} s: {parts} (target health not read: {why})", elapsed_s=elapsed,
                            failing_checks=[f.check_id for f in failing])
    return Verification(
        "rediagnosed",
        f"applied; {p.check_id} passes on a fresh diagnosis. The load balancer's target health was not checked ({why}): "
        "this is the re-diagnosis alone",
        elapsed_s=elapsed,
    )
