"""The fix flow's worker side: buttons on the report, previews, approval requests, the write itself.

Everything that calls a cluster (dry runs, writes, verification) runs here, in an rq job on the
worker, never in the web process. Jobs go to the front of the diagnosis queue (`at_front`), so a
click is not stuck behind queued diagnoses.

    offer job    (Preview / Apply fix / Roll back clicked)  dry run -> preview message, or an
                 approval request message with Approve / Reject
    execute job  (Approve won the claim)                     authorise again -> bot.fixes.engine
                 apply / rollback (once: resourceVersion precondition) -> outcome stored in the
                 record -> verify -> thread reply, request and root messages updated

The outcome is stored before anything is posted: a job retried because Slack was down posts the
stored result (each post claimed once, bot.job_runtime.once) and never writes again.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import asdict
from typing import Any

from redis import Redis
from rq import Retry
from slack_sdk.errors import SlackApiError

from bot.approvals import Offer, Records
from bot.fixes import audit, objdiff
from bot.job_runtime import deps, once
from bot.policy import Access, Approvals, Decision, UserGroups, kill_switch
from bot.queue import get_queue
from bot.render import format_duration
from bot.slack import actions_blocks as ui
from bot.slack import client as slack
from bot.slack.posting import post_once

log = logging.getLogger("lbhealth.fixes.flow")

OFFER_JOB = "bot.approvals_jobs.run_offer"
EXECUTE_JOB = "bot.approvals_jobs.run_execute"
RETRY = [1, 5, 15, 30, 60, 120]  # a Slack outage of ~4 min: the stored result is posted when it is back
FIX_JOB_TIMEOUT = 300  # seconds one fix job may run; the chart's writer waits this long on SIGTERM
_groups: dict[int, UserGroups] = {}


def enqueue(redis: Redis, queue: str, func: str, payload: dict[str, Any], job_id: str) -> None:
    """A fix job at the front of `queue` (LBHEALTH_FIX_QUEUE: the writer's queue where one is deployed)."""
    get_queue(redis, queue).enqueue(func, payload, job_id=job_id, at_front=True, job_timeout=FIX_JOB_TIMEOUT, result_ttl=600,
                                    failure_ttl=7 * 24 * 3600, retry=Retry(max=len(RETRY), interval=RETRY),
                                    description=f"{func.rsplit('.', 1)[1]} {payload.get('id', '')}")


def _job_key() -> str:
    """The running rq job's id (stable across its retries); a fresh id outside a job."""
    from rq import get_current_job

    from bot.approvals import new_id

    job = get_current_job()
    return job.id if job is not None else new_id()


def groups(client: Any) -> UserGroups:
    """One membership cache per Slack client (per process)."""
    return _groups.setdefault(id(client), UserGroups(client))


def approvals_now(settings: Any, redis: Redis) -> Approvals:
    return Approvals(settings.file_config(), killed=kill_switch(redis))


def fix_context(settings: Any, cluster: Any, redis: Redis, cloud_writes: bool):
    """The engine's context for a configured cluster: its kube context; None for an offline cluster."""
    from bot.fixes.model import FixContext
    from checks.collect.live import Clients

    if cluster is not None and cluster.sources:
        return None
    clients = Clients.for_cluster(cluster.context, cluster.cloud, cluster.region) if cluster else Clients()
    return FixContext(clients=clients, cloud_writes=cloud_writes, redis=redis, probe=False)


# ---- the report: buttons on each finding with a fix ----------------------------------------------


def attach_fix_buttons(d: Any, job: Any, job_id: str, report: Any, messages: list[dict[str, Any]]) -> None:
    """Add [Preview] / [Apply fix] after each finding that has a fix plan (in place).

    Not for offline clusters (dump files: nothing to write to). Each finding's offer is created
    once per job, so a re-run of the job renders the same buttons."""
    try:
        cluster = d.settings.cluster(job.cluster)
    except ValueError:
        return
    if (cluster is not None and cluster.sources) or not job.root_ts:
        return
    rules = approvals_now(d.settings, d.redis)
    records = Records(d.redis)
    findings = _findings_by_block(report)
    duration = format_duration(report.duration_ms / 1000)
    for message in messages:
        blocks = message.get("blocks") or []
        out: list[dict[str, Any]] = []
        for block in blocks:
            out.append(block)
            finding = findings.get(block.get("block_id") or "")
            if finding is None:
                continue
            offer = records.offer(job_id, finding.check_id, plan=asdict(finding.fix),
                                  target={"namespace": job.namespace, "service": job.service, "cluster": job.cluster},
                                  channel=job.channel, thread_ts=job.root_ts, verdict=report.verdict.to_dict(),
                                  duration=duration, requested_by=job.requested_by)
            allowed = rules.can_apply(finding.fix.id, job.cluster, job.namespace, cloud=_is_cloud(finding.fix.id))
            added = ui.offer_blocks(offer.id, finding.fix.id, allowed)
            if len(blocks) + (len(out) - blocks.index(block) - 1) + len(added) <= 50:  # Slack's 50 blocks
                out.extend(added)
        message["blocks"] = out


def _findings_by_block(report: Any) -> dict[str, Any]:
    """block_id -> finding, for the blocks the report template marks (`patch:<FIX>` root, `finding:<check>:<n>`)."""
    out: dict[str, Any] = {}
    root = report.root_cause
    if root is not None and root.fix is not None:
        out[f"patch:{root.fix.id}"] = root
    others = [f for f in report.findings if f.failing and f is not root]
    for n, f in enumerate(others, 1):
        if f.fix is not None:
            out[f"finding:{f.check_id}:{n}"] = f
    return out


def _is_cloud(fix_id: str) -> bool:
    from bot.fixes import registry

    try:
        return bool(registry.get(fix_id).CLOUD)
    except registry.UnknownFix:
        return False


# ---- replies -----------------------------------------------------------------------------------


def tell(d: Any, payload: dict[str, Any], line: str) -> None:
    """An ephemeral answer to the person who clicked (response_url first, then chat.postEphemeral)."""
    import requests

    msg = ui.notice(line)
    try:
        if payload.get("response_url"):
            requests.post(payload["response_url"], json={"response_type": "ephemeral", "replace_original": False, **msg},
                          timeout=5)
            return
        slack.call(d.client, "chat_postEphemeral", channel=payload.get("channel"), user=payload.get("user"), **msg)
    except Exception:
        log.warning("could not answer the clicker", exc_info=True)


def _refuse(d: Any, payload: dict[str, Any], offer: Offer | None, reason: str, code: str) -> dict[str, Any]:
    audit.record(d.redis, "refusal", who=payload.get("user") or "", fix_id=offer.fix_id if offer else "",
                 target=_ref(offer.target) if offer else "", result=code, detail=reason)
    tell(d, payload, reason)
    return {"status": "refused", "reason": code}


def _ref(target: dict[str, Any]) -> str:
    return f"{target.get('namespace')}/{target.get('service')}"


# ---- offer job: Preview, Apply fix, Roll back ----------------------------------------------------


def run_offer(payload: dict[str, Any]) -> dict[str, Any]:
    """rq job: a Preview / Apply fix / Roll back click, after the web process checked what it could."""
    d = deps()
    records = Records(d.redis)
    mode = payload["mode"]
    parent = records.request(payload["id"]) if mode == "rollback" else None
    offer = records.get_offer(parent["offer"] if parent else payload["id"])
    if offer is None:
        return _refuse(d, payload, None, "This fix offer has expired; run the diagnosis again.", "unknown")
    cfg = d.settings.file_config()
    try:
        cluster = d.settings.cluster(offer.target.get("cluster")) if offer.target.get("cluster") else d.settings.cluster(None)
    except ValueError:  # removed from the config since the diagnosis
        return _refuse(d, payload, offer, "The cluster of this fix is no longer configured. Nothing was done.", "config")
    access = Access(cfg)
    allowed = access.channel(cluster, payload.get("channel"), offer.target.get("cluster")) and access.member(
        cluster, payload.get("user"), groups(d.client))
    rules = approvals_now(d.settings, d.redis)
    if allowed and mode != "preview":
        allowed = rules.can_apply(offer.fix_id, offer.target.get("cluster"), offer.target.get("namespace"),
                                  cloud=_is_cloud(offer.fix_id))
    if not allowed:
        return _refuse(d, payload, offer, allowed.reason, "policy")
    if mode == "rollback":
        return _request_rollback(d, payload, offer, parent, rules)
    ctx = fix_context(d.settings, cluster, d.redis, rules.cloud_writes)
    if ctx is None:
        return _refuse(d, payload, offer, "This cluster is served from dump files: there is nothing to write to.", "offline")
    from bot.fixes import engine
    from bot.fixes.model import FixError
    from checks.model import FixPlan, ObjectRef, Target

    plan_data = copy.deepcopy(offer.plan)
    plan = FixPlan(**{**plan_data, "target": ObjectRef(**plan_data["target"]) if plan_data.get("target") else None})
    try:
        preview = engine.preview(plan, Target(**offer.target), ctx, check_id=offer.check_id)
    except FixError as exc:
        return _refuse(d, payload, offer, f"No preview of {offer.fix_id}: {ui.text(exc.message)}", exc.reason)
    if mode == "preview":
        audit.record(d.redis, "preview", who=payload["user"], fix_id=offer.fix_id, target=_ref(offer.target),
                     digest=preview.digest, result="shown")
        from bot.worker import once

        key = f"fix-{_job_key()}"
        once(d.redis, key, "preview", lambda search_first: post_once(
            d.client, channel=offer.channel, thread_ts=offer.thread_ts, marker=f"{key}:preview", search_first=search_first,
            unfurl_links=False, **ui.preview_message(preview.to_dict(), payload["user"])))
        return {"status": "previewed", "digest": preview.digest}
    return _open_request(d, payload, offer, "apply", preview.to_dict(), preview.digest, rules)


def _open_request(d: Any, payload: dict[str, Any], offer: Offer, kind: str, preview: dict[str, Any], digest: str,
                  rules: Approvals, parent: str = "") -> dict[str, Any]:
    from bot.worker import once

    records = Records(d.redis)
    rid = records.request_id_for(_job_key())  # a re-run of this job (Slack was down) opens no second request
    previous = records.current(offer.id, kind)
    if records.request(rid) is None:
        records.create_request(rid, kind=kind, offer=offer, requester=payload["user"], preview=preview, digest=digest,
                               expiry=rules.expiry_seconds, parent=parent)
        audit.record(d.redis, "request", who=payload["user"], fix_id=offer.fix_id, target=_ref(offer.target),
                     digest=digest, result=kind, job_id=rid)
    req = records.request(rid)
    approvers = rules.scope(offer.target.get("cluster"), offer.target.get("namespace")).approvers
    ts = once(d.redis, f"fix-{rid}", "request", lambda search_first: post_once(
        d.client, channel=offer.channel, thread_ts=offer.thread_ts, marker=f"fix-{rid}:request",
        search_first=search_first, unfurl_links=False, **ui.request_message(req, approvers)))
    records.update(rid, message_ts=ts, channel=offer.channel)
    if previous and previous != rid:
        _refresh(d, previous)
    log.info("fix approval requested", extra={"fix": offer.fix_id, "request": rid, "kind": kind})
    return {"status": "requested", "request": rid}


def _request_rollback(d: Any, payload: dict[str, Any], offer: Offer, parent: dict[str, Any] | None,
                      rules: Approvals) -> dict[str, Any]:
    out = (parent or {}).get("outcome") or {}
    if not parent or out.get("status") != "applied" or parent.get("rolled_back_by"):
        return _refuse(d, payload, offer, "Only an applied fix that was not rolled back yet can be rolled back.", "state")
    p = parent["preview"]
    shown = {**p, "title": f"roll back: {p['title']}", "tradeoff": "",
             "diff": objdiff.unified_diff(p.get("after") or {}, p.get("before") or {}, f"{p['object'].get('kind', '')} "
                                          f"{p['object'].get('namespace', '')}/{p['object'].get('name', '')}")}
    digest = objdiff.digest({"rollback_of": parent["id"], "outcome": out.get("digest"), "rv": out.get("resource_version")})
    shown["digest"] = digest
    return _open_request(d, payload, offer, "rollback", shown, digest, rules, parent=parent["id"])


# ---- execute job: the approved write ---------------------------------------------------------------


def run_execute(payload: dict[str, Any]) -> dict[str, Any]:
    """rq job: apply (or roll back) an approved request, once; then verify and tell the thread."""
    d = deps()
    records = Records(d.redis)
    rid = payload["id"]
    req = records.request(rid)
    if req is None:
        return {"status": "gone"}
    if not req.get("outcome"):
        if req["state"] not in ("approved", "applying"):
            return {"status": req["state"]}
        outcome = _write(d, records, req)
        req = records.request(rid) or req
    else:
        outcome = req["outcome"]
    _publish(d, records, req)
    return {"status": outcome.get("status")}


def _write(d: Any, records: Records, req: dict[str, Any]) -> dict[str, Any]:
    """Authorise again (config and kill switch as they are now), then the engine's one write."""
    from bot.fixes import engine

    rid, approver, p = req["id"], req.get("decided_by") or "", req["preview"]
    offer = records.get_offer(req["offer"])
    target = p["target"]
    try:
        cluster = d.settings.cluster(target.get("cluster")) if target.get("cluster") else d.settings.cluster(None)
    except ValueError:
        cluster = None
        offer = None  # refused below: the cluster is no longer configured
    rules = approvals_now(d.settings, d.redis)
    allowed: Decision = rules.can_approve(user=approver, requester=req["requester"], fix_id=p["fix_id"],
                                          cluster=target.get("cluster"), namespace=target.get("namespace"),
                                          cloud=bool(p.get("cloud")), groups=groups(d.client))
    ctx = fix_context(d.settings, cluster, d.redis, rules.cloud_writes)
    if allowed and ctx is None:
        allowed = Decision(False, "This cluster is served from dump files: there is nothing to write to.")
    if allowed and offer is None:
        allowed = Decision(False, "The fix offer expired or its cluster is no longer configured; run the diagnosis again.")
    if not allowed:
        audit.record(d.redis, "refusal", who=approver, fix_id=p["fix_id"], target=_ref(target), digest=req["digest"],
                     result="policy", job_id=rid, detail=allowed.reason)
        outcome = {"status": "refused", "message": allowed.reason}
    else:
        records.move(rid, "approved", "applying")
        _refresh(d, rid, best_effort=True)  # "applying…": Slack being down must not hold the write
        if req.get("kind") == "rollback":
            parent = records.request(req["parent"]) or {}
            result = engine.rollback(parent.get("outcome") or {}, approver, rid, ctx)
        else:
            result = engine.apply(p, approver, rid, ctx)
        outcome = result.to_dict()
        if req["state"] == "applying" and not result.written:
            # A run of this job stopped between the write and recording it (a worker killed in those
            # few ms): the precondition now refuses, but the change may be the one this request made.
            outcome["message"] = ("An earlier attempt of this job stopped while applying (worker restart), so the "
                                  "change may already be in place: check the object before anything else. "
                                  + outcome["message"])
        if result.status == "applied":
            from bot.fixes.model import Preview

            records.update(rid, outcome=outcome, state="verifying")  # the write is recorded before verification
            outcome["verification"] = asdict(engine.verify(Preview.from_dict(p), ctx, who=approver, job_id=rid))
        if result.status == "rolled-back":
            records.update(req["parent"], rolled_back_by=approver)
    records.update(rid, outcome=outcome, state=outcome["status"], finished_at=repr(time.time()))
    log.info("fix executed", extra={"fix": p["fix_id"], "request": rid, "status": outcome["status"]})
    return outcome


def _publish(d: Any, records: Records, req: dict[str, Any]) -> None:
    """Thread reply, request message and root message for a stored outcome (each post once)."""
    rid = req["id"]
    once(d.redis, f"fix-{rid}", "result", lambda search_first: post_once(
        d.client, channel=req["channel"], thread_ts=_thread(records, req), marker=f"fix-{rid}:result",
        search_first=search_first, unfurl_links=False, **ui.result_message(req)))
    _refresh(d, rid)
    if req.get("parent"):
        _refresh(d, req["parent"])
    _update_root(d, records, req)


def _thread(records: Records, req: dict[str, Any]) -> str | None:
    offer = records.get_offer(req["offer"])
    return offer.thread_ts if offer else None


def _refresh(d: Any, rid: str, *, best_effort: bool = False) -> None:
    """Re-render a request message from its record (chat.update): no stale button stays clickable."""
    records = Records(d.redis)
    req = records.request(rid)
    if not req or not req.get("message_ts"):
        return
    if req["state"] == "pending" and req["expires_at"] < time.time():
        records.move(rid, "pending", "expired")
        req["state"] = "expired"
    target = req["preview"]["target"]
    approvers = approvals_now(d.settings, d.redis).scope(target.get("cluster"), target.get("namespace")).approvers
    try:
        slack.call(d.client, "chat_update", channel=req["channel"], ts=req["message_ts"], **ui.request_message(req, approvers))
    except (SlackApiError, OSError) as exc:
        if not best_effort:
            raise
        log.warning("could not update the request message; the result is posted later", extra={"error": repr(exc)})


def refresh_message(payload: dict[str, Any]) -> dict[str, Any]:
    """rq job: re-render one request message (after a rejection or an expired click)."""
    _refresh(deps(), payload["id"])
    return {"status": "updated"}


def _update_root(d: Any, records: Records, req: dict[str, Any]) -> None:
    """The root message keeps its verdict and gains one line saying what the fix did."""
    from types import SimpleNamespace

    from bot.render import finish_message, render_message

    offer = records.get_offer(req["offer"])
    if offer is None:
        return
    out = req.get("outcome") or {}
    v = out.get("verification") or {}
    job = SimpleNamespace(namespace=offer.target.get("namespace"), service=offer.target.get("service"),
                          cluster=offer.target.get("cluster"), requested_by=offer.requested_by)
    verdict = SimpleNamespace(**offer.verdict)
    message = render_message("root_done", job=job, verdict=verdict, duration=offer.duration or "-")
    line = (f"`{ui.text(offer.fix_id)}`: {ui.text(out.get('status'))} after <@{req.get('decided_by')}>'s approval"
            + (f" · {ui.text(v.get('message'), 300)}" if v else ""))
    message["blocks"].append({"type": "context", "elements": [{"type": "mrkdwn", "text": line}]})
    message = finish_message(message)
    try:
        slack.call(d.client, "chat_update", channel=offer.channel, ts=offer.thread_ts, **message)
    except SlackApiError as exc:
        log.warning("could not update the root message", extra={"error": slack.slack_error(exc)})
