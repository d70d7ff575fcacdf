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
from checks.providers.base import Source
from checks.registry import CheckSpec
from checks.state import State

# The Kubernetes reads; each cloud provider names its own (checks/providers/<name>.py `sources`).
# {ns} {svc} {region} and the providers' identifiers are filled from the state; unknown ones stay <placeholders>.
SOURCES: dict[str, Source] = {
    "k8s.service": Source("the Service", ("kubectl get svc {svc} -n {ns} -o yaml",), "RBAC verb 'get' on 'services' in namespace {ns}"),
    "k8s.pods": Source(
        "the pods the Service selects", ("kubectl get pods -n {ns} -o yaml",), "RBAC verb 'list' on 'pods' in namespace {ns}"
    ),
    "k8s.endpoints": Source(
        "the Service's endpoints",
        ("kubectl get endpointslices -n {ns} -o yaml",),
        "RBAC verb 'list' on 'endpointslices' (group discovery.k8s.io) in namespace {ns}",
    ),
}


def _fill(text: str, state: State, cloud: str | None) -> str:
    p = provider(cloud)
    region = p.state_slice(state).region if p else None
    fields = {"ns": state.target.namespace, "svc": state.target.service, "region": (" --region " + region) if region else ""}
    for each in providers():
        fields.update(each.command_fields(state))
    return text.format_map(fields)


def _source(read: str) -> Source:
    if read in SOURCES:
        return SOURCES[read]
    return next((p.sources[read] for p in providers() if read in p.sources), Source(read, (), ""))


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
        source = SOURCES["k8s.service"]
        reason = "not in the dump" if offline and "k8s.service" not in state.read_errors else why
        supply = tuple(_fill(c, state, cloud) for c in source.dump) if offline else (_fill(source.grant, state, cloud),)
        out.append(Missing("k8s.service", source.what, reason, supply, ("K8S-SVC-EXISTS",)))
    for read, check_ids in by_read.items():
        source = _source(read)
        if read in state.read_errors:
            reason = state.read_errors[read]
            supply: tuple[str, ...] = () if ("grant" in reason or "IAM" in reason or "CAM" in reason) else (_fill(source.grant, state, cloud),)
            if offline:  # a refusal saved in the dump: the grant is in the reason, the command to run again here
                supply = tuple(_fill(c, state, cloud) for c in source.dump)
        elif offline:
            reason = "not in the dump"
            supply = tuple(_fill(c, state, cloud) for c in source.dump)
        else:
            reason = state.skipped_reads.get(read) or state.skipped_reads.get(read.split(".")[0] + ".*") or "not read"
            supply = tuple(_fill(c, state, cloud) for c in source.dump)
        out.append(Missing(read, source.what, reason, supply, tuple(check_ids)))
    return out + crashed
