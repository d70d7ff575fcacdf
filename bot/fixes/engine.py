"""The write protocol every fix goes through, for the Slack worker and `lbhealth fix` alike.

    preview(plan, target, ctx)           server-side dry run (dryRun=All): before/after, diff, digest
    apply(preview, approver, job, ctx)   re-read; refuse on drift or when the check passes now;
                                         dry run, then PATCH with metadata.resourceVersion (409 = someone
                                         changed it: said plainly, never retried); keep the pre-image
    rollback(outcome, approver, job, ctx) restore the pre-image, with the same precondition
    verify(preview, ctx)                 re-run the originating checks, poll the LB's target health

`apply`, `rollback` and `verify` return an Outcome / Verification whose `message` a person can
act on; `preview` raises FixError with such a message. Every step is written to the audit stream.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from bot.fixes import audit, cloud, objdiff, registry
from bot.fixes.base import CloudWrite, KubeWrite, PlanError
from bot.fixes.kube import KubeApiError, KubeClient, user_agent
from bot.fixes.model import FixContext, FixError, Outcome, Preview, Verification
from bot.fixes.verify import verify
from checks.collect.errors import CollectError
from checks.model import FixPlan, Status, Target

# ---- preview ----------------------------------------------------------------------------------


def _module_and_write(plan: FixPlan, now: datetime) -> tuple[Any, KubeWrite | CloudWrite]:
    try:
        module = registry.get(plan.id)
        return module, module.write(plan, now)
    except (registry.UnknownFix, PlanError) as exc:
        raise FixError(str(exc).strip("'\""), "invalid-plan") from None


def _object_dict(plan: FixPlan) -> dict[str, Any]:
    ref = plan.target
    return {"kind": ref.kind, "name": ref.name, "namespace": ref.namespace, "api_version": ref.api_version}


def _check_id(module: Any, check_id: str | None) -> str:
    if check_id and check_id not in module.CHECKS:
        raise FixError(f"{module.ID} does not fix {check_id} (it fixes {', '.join(module.CHECKS)})", "invalid-plan")
    return check_id or module.CHECKS[0]


def preview(plan: FixPlan, target: Target, ctx: FixContext, *, check_id: str | None = None, who: str = "-", job_id: str = "preview") -> Preview:
    """The exact change, from a server-side dry run (Kubernetes) or the API parameters (cloud: nothing to dry-run).

    `check_id` is the finding's check (default: the fix's first originating check); `who` and
    `job_id` go into the dry run's User-Agent.
    """
    module, write = _module_and_write(plan, ctx.now())
    check = _check_id(module, check_id)
    base = {
        "fix_id": plan.id, "title": plan.title, "check_id": check, "target": target.to_dict(), "object": _object_dict(plan),
        "patch_type": plan.patch_type, "command": plan.command, "tradeoff": plan.tradeoff, "cloud": module.CLOUD,
    }
    if isinstance(write, CloudWrite):
        before, after, why = cloud.group_before_after(write, ctx.clients)
        name = f"{write.provider} security group {plan.target.name}" + (f" (its rules not read: {why})" if why else " ingress rules, in order")
        p = Preview(**base, resource_version=plan.target.resource_version, patch=write.params,
                    diff=objdiff.unified_diff(before, after, name), before=before, after=after)
    else:
        kube = ctx.kube(user_agent(plan.id, who, job_id))
        current = _get(kube, write)
        rv = current["metadata"].get("resourceVersion")
        if plan.target.resource_version and rv != plan.target.resource_version:
            raise FixError(
                f"{write.kind} {write.namespace}/{write.name} changed since the diagnosis (resourceVersion "
                f"{plan.target.resource_version} -> {rv}); run the diagnosis again for a fresh fix", "drift")
        try:
            dry = kube.patch(write, _with_version(write, rv), dry_run=True)
        except KubeApiError as exc:
            raise FixError(_kube_failure(exc, write, "preview"), _reason(exc)) from None
        before, after = objdiff.strip_noise(current), objdiff.strip_noise(dry)
        name = f"{write.kind.lower()}/{write.name} -n {write.namespace}"
        p = Preview(**base, resource_version=rv, patch=write.patch, diff=objdiff.unified_diff(before, after, name), before=before, after=after)
        if not p.diff:
            raise FixError(f"the fix would change nothing on {name}: it is already applied", "noop")
    p.digest = p.compute_digest()
    return p


# ---- apply ------------------------------------------------------------------------------------


def _with_version(write: KubeWrite, rv: str | None) -> Any:
    """The patch with metadata.resourceVersion: the API server answers 409 if the object moved."""
    if rv is None:
        return copy.deepcopy(write.patch)
    if write.patch_type == "json":
        return [{"op": "replace", "path": "/metadata/resourceVersion", "value": rv}, *copy.deepcopy(write.patch)]
    body = copy.deepcopy(write.patch)
    body.setdefault("metadata", {})["resourceVersion"] = rv
    return body


def _get(kube: KubeClient, write: KubeWrite) -> dict[str, Any]:
    try:
        return kube.get(write.kind, write.namespace, write.name)
    except KubeApiError as exc:
        if exc.status == 404:
            raise FixError(f"{write.kind} {write.namespace}/{write.name} no longer exists; nothing was written", "gone") from None
        raise FixError(_kube_failure(exc, write, "read"), _reason(exc)) from None


def _reason(exc: KubeApiError) -> str:
    return {0: "unreachable", 403: "forbidden", 404: "gone", 409: "conflict"}.get(exc.status, "failed")


def _kube_failure(exc: KubeApiError, write: KubeWrite, step: str) -> str:
    obj = f"{write.kind} {write.namespace}/{write.name}"
    if exc.status == 403:
        verb = "get" if step == "read" else "patch"
        group = write.resource.group or "core"
        return f"permission denied: grant RBAC {verb} on {write.resource.plural} ({group}) in {write.namespace} to lbhealth's fix ServiceAccount ({exc.message})"
    if exc.status == 409:
        return f"someone changed {obj} while the fix was being applied (409 Conflict); nothing was written. Run the diagnosis again for a fresh fix"
    if exc.status == 0:
        return f"could not {step} {obj}: {exc.message}"
    return f"the API server refused to {step} {obj}: {exc}"


def _still_fails(p: Preview, ctx: FixContext) -> tuple[str, str] | None:
    """None when the originating check still fails and still proposes this very change; else (why not, reason)."""
    from checks.runner import diagnose

    target = Target(**p.target)
    # The whole catalogue, not `only`: a check alone would not read what tells which cloud the LB is on.
    try:
        report, _ = diagnose(target, context=ctx.clients.context, probe=ctx.probe, clients=ctx.clients)
    except CollectError as exc:
        return f"could not re-check {p.check_id} before writing ({exc})", "unreachable"
    planned = copy.deepcopy(p.to_plan().patch)
    for f in report.findings:
        if f.check_id == p.check_id and f.status in (Status.FAIL, Status.WARN) and f.fix and f.fix.id == p.fix_id:
            fresh = f.fix.patch
            if p.fix_id == "FIX-RESTART-KUBE-PROXY" or fresh == planned:
                return None
            return f"{p.check_id} now proposes a different change than the one approved", "changed"
    now = next((f for f in report.findings if f.check_id == p.check_id), None)
    return (f"{p.check_id} no longer fails ({now.status}: {now.summary})" if now else f"{p.check_id} did not run"), "passes"


def _audit(ctx: FixContext, event: str, who: str, p: Preview | Outcome, result: str, job_id: str, detail: str = "", *, after_write: bool = False) -> None:
    target = p.target_ref if isinstance(p, Preview) else _ref(p)
    audit.record(ctx.redis, event, who=who, fix_id=p.fix_id, target=target, digest=p.digest, result=result, job_id=job_id, detail=detail,
                 after_write=after_write)


def _outcome(p: Preview, status: str, message: str, **kw: Any) -> Outcome:
    return Outcome(status=status, message=message, fix_id=p.fix_id, target=p.target, object=p.object, digest=p.digest,
                   command=p.command, cloud=p.cloud, **kw)


def apply(record: Preview | dict[str, Any], approver: str, job_id: str, ctx: FixContext) -> Outcome:
    """Write exactly what was previewed, once, or refuse with why. Never retries a conflict."""
    try:
        p = record if isinstance(record, Preview) else Preview.from_dict(record)
        if p.compute_digest() != p.digest:
            raise FixError("the preview does not match its digest; nothing was written", "tampered")
        module, write = _module_and_write(p.to_plan(), ctx.now())
    except FixError as exc:
        audit.record(ctx.redis, "refusal", who=approver, fix_id=str((record if isinstance(record, dict) else {}).get("fix_id", "")),
                     target="", result=exc.reason, job_id=job_id, detail=exc.message)
        return Outcome("refused", exc.message, "", {}, {}, "")
    if isinstance(write, CloudWrite):
        return _apply_cloud(p, write, approver, job_id, ctx)
    return _apply_kube(p, write, approver, job_id, ctx)


def _refuse(p: Preview, ctx: FixContext, approver: str, job_id: str, message: str, reason: str) -> Outcome:
    _audit(ctx, "refusal", approver, p, reason, job_id, message)
    return _outcome(p, "refused", message)


def _apply_kube(p: Preview, write: KubeWrite, approver: str, job_id: str, ctx: FixContext) -> Outcome:
    kube = ctx.kube(user_agent(p.fix_id, approver, job_id))
    try:
        current = _get(kube, write)
    except FixError as exc:
        return _refuse(p, ctx, approver, job_id, exc.message, exc.reason)
    rv = current["metadata"].get("resourceVersion")
    if rv != p.resource_version:
        return _refuse(p, ctx, approver, job_id, (
            f"{write.kind} {write.namespace}/{write.name} changed since the preview (resourceVersion {p.resource_version} -> {rv}); "
            "nothing was written. Run the diagnosis again for a fresh fix"), "drift")
    why = _still_fails(p, ctx)
    if why:
        return _refuse(p, ctx, approver, job_id, f"{why[0]}; nothing was written. Run the diagnosis again", why[1])
    body = _with_version(write, rv)
    try:
        kube.patch(write, body, dry_run=True)
        after = kube.patch(write, body, dry_run=False)
    except KubeApiError as exc:
        status = "conflict" if exc.status == 409 else "failed"
        message = _kube_failure(exc, write, "patch")
        _audit(ctx, "conflict" if status == "conflict" else "failure", approver, p, status, job_id, message)
        return _outcome(p, status, message)
    new_rv = after["metadata"].get("resourceVersion")
    message = f"applied {p.fix_id} to {write.kind} {write.namespace}/{write.name} (resourceVersion {rv} -> {new_rv})"
    _audit(ctx, "apply", approver, p, "applied", job_id, message, after_write=True)
    return _outcome(p, "applied", message, resource_version=new_rv, pre_image=objdiff.pre_image(current))


def _apply_cloud(p: Preview, write: CloudWrite, approver: str, job_id: str, ctx: FixContext) -> Outcome:
    if not ctx.cloud_writes:
        message = f"cloud writes are off (cloud_writes: false): nothing was written. To apply it by hand run:\n{write.command}"
        _audit(ctx, "command", approver, p, "command shown", job_id)
        return _outcome(p, "command", message)
    why = _still_fails(p, ctx)
    if why:
        return _refuse(p, ctx, approver, job_id, f"{why[0]}; nothing was written. Run the diagnosis again", why[1])
    result = cloud.authorize(write, ctx.clients)
    event = {"applied": "apply", "conflict": "conflict"}.get(result.status, "failure")
    _audit(ctx, event, approver, p, result.status, job_id, result.message, after_write=result.status == "applied")
    return _outcome(p, result.status, result.message, pre_image={"provider": write.provider, "params": write.params, "region": write.region})


# ---- rollback ---------------------------------------------------------------------------------


def rollback(record: Outcome | dict[str, Any], approver: str, job_id: str, ctx: FixContext) -> Outcome:
    """Restore the pre-image of an applied fix, refusing if the object changed since the fix."""
    o = record if isinstance(record, Outcome) else Outcome.from_dict(record)
    base = {"fix_id": o.fix_id, "target": o.target, "object": o.object, "digest": o.digest, "command": o.command, "cloud": o.cloud}
    if o.status != "applied" or not o.pre_image:
        return Outcome("refused", "only an applied fix with a stored pre-image can be rolled back", **base)
    if o.cloud:
        if not ctx.cloud_writes:
            return Outcome("command", f"cloud writes are off: nothing was written. To remove the rule by hand run:\n{cloud.revoke_command(o.pre_image)}", **base)
        result = cloud.revoke(o.pre_image, ctx.clients)
        _audit(ctx, "rollback", approver, o, result.status, job_id, result.message, after_write=result.status == "applied")
        return Outcome("rolled-back" if result.status == "applied" else result.status, result.message, **base)
    import jsonpatch

    kind, ns, name = o.object["kind"], o.object["namespace"], o.object["name"]
    kube = ctx.kube(user_agent(o.fix_id + "-rollback", approver, job_id))
    write = KubeWrite(kind, ns, name, [], "json")
    try:
        current = _get(kube, write)
    except FixError as exc:
        return Outcome("refused", exc.message, **base)
    rv = current["metadata"].get("resourceVersion")
    if rv != o.resource_version:
        msg = (f"{kind} {ns}/{name} changed since the fix was applied (resourceVersion {o.resource_version} -> {rv}); "
               "nothing was written. Restore it by hand if still wanted")
        _audit(ctx, "refusal", approver, o, "drift", job_id, msg)
        return Outcome("refused", msg, **base)
    ops = jsonpatch.make_patch(_restorable(current), _restorable(o.pre_image)).patch
    write = KubeWrite(kind, ns, name, ops, "json")
    try:
        after = kube.patch(write, _with_version(write, rv), dry_run=False)
    except KubeApiError as exc:
        status = "conflict" if exc.status == 409 else "failed"
        msg = _kube_failure(exc, write, "patch")
        _audit(ctx, "conflict" if status == "conflict" else "failure", approver, o, status, job_id, msg)
        return Outcome(status, msg, **base)
    new_rv = after["metadata"].get("resourceVersion")
    msg = f"rolled back {o.fix_id} on {kind} {ns}/{name} (resourceVersion {rv} -> {new_rv})"
    _audit(ctx, "rollback", approver, o, "rolled-back", job_id, msg, after_write=True)
    return Outcome("rolled-back", msg, resource_version=new_rv, **base)


def _ref(o: Outcome) -> str:
    return f"{o.target.get('namespace')}/{o.target.get('service')}"


def _restorable(obj: dict[str, Any]) -> dict[str, Any]:
    """The parts a fix changes and a rollback restores: spec, labels, annotations."""
    meta = obj.get("metadata") or {}
    out: dict[str, Any] = {"metadata": {k: copy.deepcopy(meta[k]) for k in ("labels", "annotations") if k in meta}}
    if "spec" in obj:
        out["spec"] = copy.deepcopy(obj["spec"])
    return out


__all__ = ["FixContext", "FixError", "Outcome", "Preview", "Verification", "apply", "preview", "rollback", "verify"]
