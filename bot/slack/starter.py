"""Start the diagnosis of an accepted command (in the intake consumer, after the acknowledgement):
dedup, the root message (posted once: bot.slack.posting), the job; private replies to the requester.
"""

from __future__ import annotations

import hashlib
import logging
import time
from datetime import UTC, datetime
from typing import Any

from redis import Redis
from slack_bolt import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import metrics
from bot.logs import job_context
from bot.policy import Access, RateLimiter, UserGroups
from bot.queue import DiagnosisJob, claim_command, enqueue_diagnosis, release_command, update_record
from bot.render import mrkdwn, render_message
from bot.settings import Settings
from bot.slack import client as slack
from bot.slack import commands
from bot.slack.posting import post_once

log = logging.getLogger("lbhealth.slack")


def dedup_key(body: dict[str, Any]) -> str:
    """One key per command invocation: Slack's trigger_id, else the request's content in a 60 s window."""
    team = body.get("team_id") or body.get("enterprise_id") or "-"
    if body.get("trigger_id"):
        return f"{team}:{body['trigger_id']}"
    raw = "|".join(str(body.get(k, "")) for k in ("channel_id", "user_id", "command", "text"))
    return f"{team}:{hashlib.sha256(raw.encode()).hexdigest()[:24]}:{int(time.time() // 60)}"


class CommandStarter:
    def __init__(self, settings: Settings, redis: Redis, client: WebClient) -> None:
        self.settings = settings
        self.redis = redis
        self.client = client
        self.limiter = RateLimiter(redis)
        self.groups = UserGroups(client)

    def process(self, body: dict[str, Any], retry: str | None = None, *, attempt: int = 0,
                item_id: str | None = None) -> None:
        """Everything after the acknowledgement, for one accepted command (attempt 0 is the first).

        `item_id` names the accepted command across its attempts: it is the job's id and the value
        of the command's claim, so that an attempt Redis cut short (claims not released) is resumed."""
        cmd, _error, cluster = commands.parse(self.settings, body)
        if cmd is None or cmd.help or cmd.target is None or not commands.access(self.settings, body, cluster):
            return  # answered in the acknowledgement (or the config changed in between)
        member = Access(self.settings.file_config()).member(cluster, body.get("user_id"), self.groups)
        if not member:
            metrics.COMMANDS.labels("denied").inc()
            self.ephemeral(body, render_message("notice", text=member.reason))
            return
        self.start(body, cmd, cluster, retry, search_first=attempt > 0, item_id=item_id)

    def start(self, body: dict[str, Any], cmd: Any, cluster: Any, retry: str | None, *,
              search_first: bool = False, item_id: str | None = None) -> None:
        command_key = dedup_key(body)
        if not claim_command(self.redis, command_key, token=item_id or "1"):
            metrics.COMMANDS.labels("duplicate").inc()
            log.info("duplicate delivery of a command ignored", extra={"retry_num": retry})
            return
        if not search_first:  # counted once per command: Slack's retries and our own are not new commands
            within = self.limiter.command(self.settings.file_config(), body.get("user_id"))
            if not within:
                metrics.COMMANDS.labels("rate_limited").inc()
                log.info("command rate-limited", extra={"retry_after": within.retry_after})
                self.ephemeral(body, render_message("notice", text=within.reason))
                return
        target = cmd.target
        job = DiagnosisJob(
            namespace=target.namespace, service=target.service,
            cluster=cluster.name if cluster else target.cluster, channel=body.get("channel_id") or "",
            requested_by=body.get("user_id"), origin="command", response_url=body.get("response_url"),
            team_id=body.get("team_id"), **({"job_id": item_id} if item_id else {}),
        )

        def post_root(j: DiagnosisJob) -> str:
            # the marker is the command's: a retry of this command finds the root an earlier attempt posted
            return post_once(self.client, channel=j.channel, marker=f"command:{command_key}",
                             search_first=search_first, **render_message("root", job=j))

        with job_context(job.job_id):
            try:
                result = enqueue_diagnosis(
                    self.redis, job, post_root=post_root, job_timeout=self.settings.lbhealth_job_timeout,
                    retry_intervals=self.settings.job_retry_intervals,
                )
            except SlackApiError as exc:
                error = slack.slack_error(exc) or "unknown"
                if error not in slack.PERMANENT:  # try again later (the intake's retry budget)
                    release_command(self.redis, command_key)
                    raise
                self._cannot_post(body, job, error)
                return
            except Exception:  # Slack or Redis unreachable: nothing was queued; the intake tries again
                release_command(self.redis, command_key)
                raise
            if result.created:
                metrics.COMMANDS.labels("queued").inc()
                log.info("diagnosis queued", extra={"target": job.dedup_key, "channel": job.channel})
                return
            self._already_running(body, job, result)

    def _cannot_post(self, body: dict[str, Any], job: DiagnosisJob, error: str) -> None:
        metrics.COMMANDS.labels("cannot_post").inc()
        log.warning("cannot post the root message", extra={"error": error, "channel": job.channel})
        if error in slack.NOT_IN_CHANNEL:
            command_text = f"{body.get('command', '/lbhealth')} {body.get('text', '')}".strip()
            message = render_message("invite", error=error, command_text=command_text)
        else:
            message = render_message("cannot_start", reason=f"Slack said {error}", retry=False)
        self.ephemeral(body, message)

    def _already_running(self, body: dict[str, Any], job: DiagnosisJob, result: Any) -> None:
        metrics.COMMANDS.labels("already_running").inc()
        permalink = result.permalink
        if not permalink and result.channel and result.root_ts:
            try:
                permalink = slack.call(self.client, "chat_getPermalink", channel=result.channel,
                                       message_ts=result.root_ts)["permalink"]
                update_record(self.redis, result.job_id, permalink=permalink)
            except SlackApiError:
                permalink = None
        state = "running" if result.state == "running" else "queued"
        self.ephemeral(body, render_message("busy", job=job, permalink=permalink, state=state))

    def tell_late(self, body: dict[str, Any], deadline: float) -> bool:
        """The command could not start yet: say so, once, with how long it keeps trying. True if told."""
        until = datetime.fromtimestamp(deadline, UTC).strftime("%H:%M UTC")
        return self.ephemeral(body, render_message("notice", text=mrkdwn(
            "Slack or lbhealth's queue is slow right now: the diagnosis of `{}` has not started yet. I keep "
            "trying until {} and will post in this channel when it starts.", body.get("text") or "", until)))

    def give_up(self, body: dict[str, Any], reason: str) -> None:
        """The retry budget is spent: tell the requester, privately."""
        metrics.COMMANDS.labels("error").inc()
        self.ephemeral(body, render_message("cannot_start", command_text=body.get("text"),
                                            reason=f"{reason}; I stopped trying", retry=True))

    def ephemeral(self, body: dict[str, Any], message: dict[str, Any]) -> bool:
        """Ephemeral to the requester: response_url first (works even where the bot is not a member)."""
        if body.get("response_url"):
            try:
                Respond(response_url=body["response_url"])(response_type="ephemeral", replace_original=False, **message)
                return True
            except Exception as exc:
                log.warning("response_url failed; trying chat.postEphemeral", extra={"error": type(exc).__name__})
        try:
            slack.call(self.client, "chat_postEphemeral", channel=body.get("channel_id"), user=body.get("user_id"),
                       **message)
            return True
        except Exception as exc:
            log.warning("could not reach the requester", extra={"error": type(exc).__name__})
            return False
