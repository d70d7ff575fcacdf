"""The fix buttons (block_actions): Preview, Apply fix, Approve, Reject, Roll back.

A click is a signed request (bolt verifies it before this runs). Its button value is only an id
(bot.approvals); what it stands for is read from Redis and authorised here, at click time, with
the config as it is now, and again by the worker before it writes. The web process does Redis
work only (plus a cached user-group lookup for approvers): the dry run, the write and the Slack
messages happen in rq jobs (bot.approvals_jobs).

Every refusal answers the clicker privately with why (response_url, off the request thread),
goes to the audit stream, and writes nothing.
"""

from __future__ import annotations

import logging
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from redis import Redis
from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot import approvals_jobs as jobs
from bot.approvals import ID, Records, parse_approval_value
from bot.fixes import audit
from bot.policy import Access, Approvals, Decision, RateLimiter, UserGroups, kill_switch
from bot.slack import actions_blocks as ui
from bot.slack.client import web_client

log = logging.getLogger("lbhealth.slack.actions")

ACTION = re.compile(r"^lbhealth_fix_(preview|apply|approve|reject|rollback)$")
WHY_NOT = {
    "unknown": "This request is unknown (it expired long ago, or the button was tampered with). Nothing was done.",
    "expired": "This request has expired: nobody approved it in time. Nothing was written. Press *Apply fix* for a new one.",
    "superseded": "This request was superseded by a newer one for the same fix. Approve the newest request instead.",
    "approved": "This request was already approved{by}; the fix is applied once.",
    "applying": "This request was already approved{by}; the fix is being applied.",
    "verifying": "This request was already approved{by} and applied.",
    "rejected": "This request was already rejected{by}. Nothing was written.",
}


class FixActions:
    def __init__(self, settings: Any, redis: Redis, client: WebClient) -> None:
        self.settings = settings
        self.redis = redis
        self.records = Records(redis)
        self.limiter = RateLimiter(redis)
        # Approver groups are resolved in the request thread: a short timeout, and a brief cache.
        self.groups = UserGroups(web_client(settings.slack_bot_token, settings.slack_api_url, timeout=2))
        self._replies = ThreadPoolExecutor(max_workers=2, thread_name_prefix="fix-replies")

    def register(self, app: App) -> None:
        app.action(ACTION)(self.handle)

    # -- the click -----------------------------------------------------------------------------------
    def handle(self, ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Any) -> None:
        ack()
        click = {
            "user": (body.get("user") or {}).get("id") or "",
            "team": (body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id"),
            "channel": (body.get("channel") or {}).get("id") or "",
            "response_url": body.get("response_url") or "",
        }
        kind = ACTION.match(action.get("action_id") or "")[1]
        value = str(action.get("value") or "")[:100]
        try:
            config = self.settings.file_config()
        except ValueError as exc:
            return self._refuse(respond, click, f"lbhealth's configuration cannot be read ({exc}).", "config")
        team = Access(config).team(click["team"])
        if not team:
            return self._refuse(respond, click, team.reason, "team")
        if kind in ("preview", "apply"):
            return self._offer(respond, click, kind, value)
        if kind == "rollback":
            return self._rollback(respond, click, value)
        return self._decide(respond, click, kind, value)

    def _offer(self, respond: Any, click: dict[str, Any], kind: str, value: str) -> None:
        offer = self.records.get_offer(value)
        if offer is None:
            return self._refuse(respond, click, WHY_NOT["unknown"], "unknown")
        allowed = self._channel(offer.target, click["channel"])
        if allowed and kind == "apply":
            allowed = self._rules().can_apply(offer.fix_id, offer.target.get("cluster"), offer.target.get("namespace"),
                                              cloud=jobs._is_cloud(offer.fix_id))
        if allowed:  # a preview or a request is new work: the same per-person bound as /lbhealth
            allowed = self.limiter.command(self.settings.file_config(), click["user"])
        if not allowed:
            return self._refuse(respond, click, allowed.reason, "policy", offer.fix_id, offer.target)
        self._enqueue(jobs.OFFER_JOB, {"id": offer.id, "mode": kind, **click}, f"fix-{kind}-{offer.id}-{_nonce()}")

    def _rollback(self, respond: Any, click: dict[str, Any], value: str) -> None:
        req = self.records.request(value) if ID.fullmatch(value) else None
        if req is None or req.get("kind") != "apply":
            return self._refuse(respond, click, WHY_NOT["unknown"], "unknown")
        allowed = self._channel(req["preview"]["target"], click["channel"])
        if not allowed:
            return self._refuse(respond, click, allowed.reason, "policy", req["preview"]["fix_id"], req["preview"]["target"])
        self._enqueue(jobs.OFFER_JOB, {"id": req["id"], "mode": "rollback", **click},
                     f"fix-rollback-{req['id']}-{_nonce()}")

    def _decide(self, respond: Any, click: dict[str, Any], kind: str, value: str) -> None:
        """Approve or Reject: authorise, then one atomic claim; only the winner queues anything."""
        parsed = parse_approval_value(value)
        req = self.records.request(parsed[0]) if parsed else None
        if req is None:
            return self._refuse(respond, click, WHY_NOT["unknown"], "unknown" if parsed else "tampered")
        p, user = req["preview"], click["user"]
        target = p["target"]
        allowed = self._channel(target, click["channel"])
        if allowed and not (kind == "reject" and user == req["requester"]):  # a requester may withdraw
            allowed = self._rules().can_approve(user=user, requester=req["requester"], fix_id=p["fix_id"],
                                                cluster=target.get("cluster"), namespace=target.get("namespace"),
                                                cloud=bool(p.get("cloud")), groups=self.groups)
        if not allowed:
            return self._refuse(respond, click, allowed.reason, "policy", p["fix_id"], target, req)
        won = self.records.claim(req["id"], parsed[1], user, "approved" if kind == "approve" else "rejected")
        if won != "ok":
            latest = self.records.request(req["id"]) or req
            by = f" by <@{latest['decided_by']}>" if latest.get("decided_by") else ""
            line = WHY_NOT.get(won, "This request is already finished ({state}).").format(by=by, state=ui.text(won))
            if won == "expired":
                self._enqueue("bot.approvals_jobs.refresh_message", {"id": req["id"]}, f"fix-refresh-{req['id']}")
            return self._refuse(respond, click, line, won, p["fix_id"], target, req)
        event = "approval" if kind == "approve" else "rejection"
        audit.record(self.redis, event, who=user, fix_id=p["fix_id"], target=jobs._ref(target), digest=req["digest"],
                     result=req.get("kind", "apply"), job_id=req["id"])
        log.info("fix request decided", extra={"request": req["id"], "decision": event})
        if kind == "approve":
            self._enqueue(jobs.EXECUTE_JOB, {"id": req["id"]}, f"fix-execute-{req['id']}")
        else:
            self._enqueue("bot.approvals_jobs.refresh_message", {"id": req["id"]}, f"fix-refresh-{req['id']}")

    # -- helpers -------------------------------------------------------------------------------------
    def _enqueue(self, func: str, payload: dict[str, Any], job_id: str) -> None:
        jobs.enqueue(self.redis, self.settings.lbhealth_fix_queue, func, payload, job_id)

    def _rules(self) -> Approvals:
        return Approvals(self.settings.file_config(), killed=kill_switch(self.redis))

    def _channel(self, target: dict[str, Any], channel: str) -> Decision:
        try:
            cluster = self.settings.cluster(target.get("cluster")) if target.get("cluster") else self.settings.cluster(None)
        except ValueError:
            return Decision(False, "The cluster of this fix is no longer configured. Nothing was done.")
        return Access(self.settings.file_config()).channel(cluster, channel, target.get("cluster"))

    def _refuse(self, respond: Any, click: dict[str, Any], reason: str, code: str, fix_id: str = "",
                target: dict[str, Any] | None = None, req: dict[str, Any] | None = None) -> None:
        audit.record(self.redis, "refusal", who=click["user"], fix_id=fix_id, target=jobs._ref(target) if target else "",
                     digest=(req or {}).get("digest", ""), result=code, job_id=(req or {}).get("id", ""), detail=reason)
        log.info("fix click refused", extra={"reason": code})
        message = ui.notice(reason)
        if click["response_url"]:
            self._replies.submit(_reply, respond, message)


def _reply(respond: Any, message: dict[str, Any]) -> None:
    try:
        respond(response_type="ephemeral", replace_original=False, **message)
    except Exception:
        log.warning("could not answer the clicker", exc_info=True)


def _nonce() -> str:
    import secrets

    return secrets.token_hex(4)


def register_fix_actions(app: App, settings: Any, redis: Redis, client: WebClient) -> FixActions:
    """Mount the fix buttons on the bolt app (the composition root calls this)."""
    actions = FixActions(settings, redis, client)
    actions.register(app)
    return actions
