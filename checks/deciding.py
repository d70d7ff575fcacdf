"""Which reads decide a verdict, and what supplies each one when it is missing.

A `pass` verdict claims the common causes were ruled out. That holds only when the checks that
rule them out could read what they judge: with the pods absent from a dump, or the target health
denied by IAM, "no check failed" means "nothing was looked at". Each check declares the reads it
cannot decide without (`@check(..., decides=(...))`); this module turns the unavailable ones into
`Missing` items that name what is missing and the exact command or permission that supplies it,
and the ranker then says `incomplete` instead of `pass`.
"""

from __future__ import annotations

from collections.abc import Iterable

from checks.lbview import detect_cloud, fronted_by_load_balancer
from checks.model import Finding, Missing, Status
from checks.providers import provider, providers
from checks.registry import CheckSpec
from checks.sources import fill, source
from checks.state import State


def _applies(spec: CheckSpec, state: State, cloud: str | None) -> bool:
    """A cloud layer decides only for the cloud in front of the Service; Kubernetes ones once the Service exists."""
    if provider(spec.layer) is not None:
        return spec.layer == cloud and fronted_by_load_balancer(state)
    return state.service is not None


def _unknown_cloud(state: State, specs: Iterable[CheckSpec]) -> Missing | None:
    """A load balancer sends to the Service but neither cloud was recognised: its view of the targets
    (the thing that alarmed) was never read, so "healthy" would be a guess."""
    clouds = providers()
    deciders = tuple(s.id for s in specs if s.decides and provider(s.layer) is not None)
    if not deciders:
        return None
    return Missing(
        "cloud",
        "the load balancer's own view of its targets",
        "neither " + " nor ".join(p.title for p in clouds) + " was recognised for this Service (no load-balancer annotation, "
        + "/".join(p.lb_words for p in clouds) + " hostname or node providerID "
        + " or ".join(p.provider_id_prefixes[0] for p in clouds) + ")",
        tuple(p.target_health_command for p in clouds),
        deciders,
    )


def missing_reads(state: State, specs: Iterable[CheckSpec], findings: list[Finding]) -> list[Missing]:
    """The deciding reads of the selected checks that were absent, denied or failed, in catalogue order."""
    cloud = detect_cloud(state)
    offline = bool(state.options.get("offline"))
    by_read: dict[str, list[str]] = {}
    crashed: list[Missing] = []
    by_check: dict[str, list[Finding]] = {}
    for f in findings:
        by_check.setdefault(f.check_id, []).append(f)
    for spec in specs:
        if not spec.decides or not _applies(spec, state, cloud):
            continue
        gaps = [r for r in spec.decides if state.why_not_read(r) is not None]
        for read in gaps:
            by_read.setdefault(read, []).append(spec.id)
        own = by_check.get(spec.id, [])
        if not gaps and own and all(f.status == Status.ERROR for f in own):
            crashed.append(
                Missing(spec.id, f"the verdict of {spec.id} ({spec.title})", own[0].summary, (own[0].next_step,) if own[0].next_step else (), (spec.id,))
            )
    out = [_unknown_cloud(state, specs)] if cloud is None and fronted_by_load_balancer(state) else []
    out = [m for m in out if m is not None]
    if state.service is None and (why := state.why_not_read("k8s.service")) is not None:
        # Without the Service no Kubernetes check applies: that is "could not decide", never "nothing applies".
        svc = source("k8s.service")
        reason = "not in the dump" if offline and "k8s.service" not in state.read_errors else why
        supply = tuple(fill(c, state, cloud) for c in svc.dump) if offline else (fill(svc.grant, state, cloud),)
        out.append(Missing("k8s.service", svc.what, reason, supply, ("K8S-SVC-EXISTS",)))
    for read, check_ids in by_read.items():
        src = source(read)
        if read in state.read_errors:
            reason = state.read_errors[read]
            supply: tuple[str, ...] = () if ("grant" in reason or "IAM" in reason or "CAM" in reason) else (fill(src.grant, state, cloud),)
            if offline:  # a refusal saved in the dump: the grant is in the reason, the command to run again here
                supply = tuple(fill(c, state, cloud) for c in src.dump)
        elif offline:
            reason = "not in the dump"
            supply = tuple(fill(c, state, cloud) for c in src.dump)
        else:
            reason = state.skipped_reads.get(read) or state.skipped_reads.get(read.split(".")[0] + ".*") or "not read"
            supply = tuple(fill(c, state, cloud) for c in src.dump)
        out.append(Missing(read, fill(src.what, state, cloud), reason, supply, tuple(check_ids)))
    return out + crashed
