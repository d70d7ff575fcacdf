"""Whether a check can run at all, from what it declares: its layer's cloud and the reads it needs.

The runner asks `gate` before calling a check, so no check re-declares its reads by hand. A cloud
check runs only for the cloud in front of the Service. A required read (`@check(reads=...)`) that
failed makes an `error` naming what could not be read and the grant that fixes it; one that was
not collected (absent from a dump, skipped by the collector, cloud not in play) makes a `skip`
naming it and the command that supplies it. Optional reads (`uses=`) never gate.
"""

from __future__ import annotations

from checks.lbview import detect_cloud
from checks.model import Finding, Status
from checks.providers import provider
from checks.providers.base import Provider
from checks.registry import CheckSpec
from checks.sources import fill, grantee, source
from checks.state import State

# Words in a read error that say the credentials lack a permission (RBAC, IAM, CAM), not that the API was down.
_DENIED = ("forbidden", "denied", "grant", "not allowed", "not authorized", "unauthorized")


def gate(spec: CheckSpec, state: State) -> Finding | None:
    """The finding that stands in for the check when it cannot judge, or None to run it."""
    p = provider(spec.layer)
    if p is not None:
        cloud = detect_cloud(state)
        if cloud != p.name:
            return Finding(spec.id, Status.SKIP, _other_cloud(p, cloud, spec, state))
    return unread(spec.id, state, spec.reads)


def unread(check_id: str, state: State, reads: tuple[str, ...]) -> Finding | None:
    """The stand-in for the first of `reads` that failed, else for the first not collected, else None.

    The runner asks it for a check's declared reads; a check whose need depends on what it found
    (nodes matter only under externalTrafficPolicy Local) asks it for those, with the same words.
    """
    for read in reads:
        if read in state.read_errors:
            return failed(check_id, state, read)
    for read in reads:
        why = state.why_not_read(read)
        if why is not None:
            return absent(check_id, state, read, why)
    return None


def failed(check_id: str, state: State, read: str) -> Finding:
    """`error`: the read was attempted and failed; the next step is the grant, or a retry when not a denial."""
    cloud = detect_cloud(state)
    src = source(read)
    what = fill(src.what, state, cloud)
    error = state.read_errors[read]
    grant = fill(src.grant, state, cloud)
    if not grant:
        step = "Re-run the diagnosis; if the error repeats, it is what to fix"
    elif any(w in error.lower() for w in _DENIED):
        step = f"Grant {grant} to {grantee(read)}, then re-run"
    else:
        step = f"Re-run once the API answers (reading {what} needs {grant}, granted to {grantee(read)})"
    commands = [fill(c, state, cloud) for c in src.dump]
    if commands:
        step += "; meanwhile, with your own access: " + _listed(commands)
    return Finding(check_id, Status.ERROR, f"Could not read {what}: {error}", next_step=step)


def absent(check_id: str, state: State, read: str, why: str) -> Finding:
    """`skip`: the read was not collected; the next step is the command whose output supplies it."""
    cloud = detect_cloud(state)
    src = source(read)
    what = fill(src.what, state, cloud)
    commands = [fill(c, state, cloud) for c in src.dump]
    offline = bool(state.options.get("offline"))
    summary, step = f"Not checked without {what}: {why.removeprefix('offline: ') if offline else why}", ""
    if commands and not any(c in why for c in commands):  # a dump's own reason may name the command already
        listed = _listed(commands)
        if offline:  # said in the summary: a skipped check shows only its summary
            summary += f"; add the output of {listed} to the dump"
        else:
            step = f"To look yourself: {listed}"
    return Finding(check_id, Status.SKIP, summary, next_step=step)


def _listed(commands: list[str]) -> str:
    """`a`, `b` and `c`."""
    quoted = [f"`{c}`" for c in commands]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _other_cloud(p: Provider, cloud: str | None, spec: CheckSpec, state: State) -> str:
    """Why a cloud check skips: the Service is on another cloud, or none was recognised (no credentials, say)."""
    for read in spec.reads:
        why = state.why_not_read(read) or ""
        if "credential" in why:
            return why
    article = "an" if p.title[:1].upper() in "AEIOU" else "a"
    other = provider(cloud)
    where = f"this Service is on {other.title if other else cloud}" if cloud else "no cloud load balancer was recognised for this Service"
    return f"Not {article} {p.title} load balancer ({where})"
