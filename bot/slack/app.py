"""The bolt app: `/lbhealth` (HTTP mode through bot.http, or Socket Mode through bot.server).

    /lbhealth shop/web            /lbhealth web -n shop --cluster prod            /lbhealth help

The command is acknowledged first, within the same request, with nothing but a parse of its
text (no I/O): bad text gets its usage reply right in the acknowledgement, nothing is queued.
A valid command is acknowledged with an empty body and pushed, as it is, onto a Redis list
(bot.slack.intake); the rest (dedup, root message, enqueue) runs in the intake consumer, a
separate process of `lbhealth serve`.

Why not bolt's lazy listeners, or a thread pool in the web process (both measured with
bench/slack_ack.py): bolt deep-copies the whole request for each lazy function before it
answers (0.66 ms of the 1.5 ms a command cost in the request thread, bad input included), and
any follow-up work in the web process (a Slack call, an rq enqueue: ~2-3 ms of CPU a command)
competes with the acknowledgements for the GIL: under a burst of 200 commands that put the ack
p99 at 340-480 ms. With one RPUSH after ack() the web process spends ~0.3 ms of CPU a command,
and an accepted command survives a crash of the web process (it is in Redis, not in a queue in
memory). The listener runs inline (process_before_response=True), so the HTTP response leaves
as soon as it returns, without bolt's 10 ms polling for ack().
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from redis import Redis
from slack_bolt import Ack, App, BoltRequest, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import metrics
from bot.logs import job_context
from bot.policy import Access, Decision, RateLimiter, UserGroups, not_here
from bot.queue import DiagnosisJob, claim_command, enqueue_diagnosis, release_command, update_record
from bot.render import render_message
from bot.slack import client as slack
from bot.slack import intake
from bot.slack.actions import register_fix_actions
from bot.slack.grammar import Command, UsageError, parse_command

log = logging.getLogger("lbhealth.slack")

COMMAND = re.compile(r"^/lbhealth")  # also /lbhealth-staging etc. (one app per environment)


def create_bolt_app(
    settings: Any,
    redis: Redis,
    client: WebClient,
    *,
    socket_mode: bool = False,
    executor: ThreadPoolExecutor | None = None,
    verify_token: bool = False,
) -> App:
    secret = settings.slack_signing_secret
    executor = executor or ThreadPoolExecutor(max_workers=4, thread_name_prefix="bolt-listener")

    def make(verify: bool) -> App:
        return App(
            client=client,
            signing_secret=secret,
            # Socket Mode has no signatures (bolt skips verification there); HTTP mode requires them.
            request_verification_enabled=bool(secret) or not socket_mode,
            # True: auth.test once now, so that no command waits for it (bolt would otherwise call it
            # on the first requests, all of them at once under a burst).
            token_verification_enabled=verify,
            # The listener runs inline in the request thread (it is pure and fast) and the response goes
            # out as soon as it returns. (False would run it on the executor and poll for ack() every 10 ms.)
            process_before_response=True,
            listener_executor=executor,
            logger=logging.getLogger("slack_bolt.App"),
        )

    if verify_token:
        try:
            app = make(True)
        except Exception as exc:  # Slack unreachable now: start anyway (webhooks, health); bolt retries per request
            log.warning("auth.test failed at start; retrying on the first command", extra={"error": str(exc)})
            app = make(False)
    else:
        app = make(False)
    handlers = CommandHandlers(settings, redis, client)
    app.command(COMMAND)(handlers.command)
    register_fix_actions(app, settings, redis, client)
    app.error(handlers.error)
    return app


def _usage(command: str, settings: Any, error: str | None = None, channel_id: str | None = None) -> dict[str, Any]:
    """Usage, listing only the clusters that may be diagnosed from this channel."""
    try:
        config = settings.file_config()
    except Exception:
        config = None
    here = set(Access(config).clusters_here(channel_id)) if config else set()
    clusters = [c for c in (config.clusters if config else []) if c.name in here]
    default = next((c.name for c in clusters if c.default), clusters[0].name if len(clusters) == 1 else None)
    return render_message(
        "usage", error=error, command=command or "/lbhealth", clusters=[c.name for c in clusters],
        default_cluster=default, example_cluster=(clusters[0].name if clusters else None),
    )


def dedup_key(body: dict[str, Any]) -> str:
    """One key per command invocation: Slack's trigger_id, else the request's content in a 60 s window."""
    team = body.get("team_id") or body.get("enterprise_id") or "-"
    if body.get("trigger_id"):
        return f"{team}:{body['trigger_id']}"
    raw = "|".join(str(body.get(k, "")) for k in ("channel_id", "user_id", "command", "text"))
    return f"{team}:{hashlib.sha256(raw.encode()).hexdigest()[:24]}:{int(time.time() // 60)}"


class CommandHandlers:
    def __init__(self, settings: Any, redis: Redis, client: WebClient) -> None:
        self.settings = settings
        self.redis = redis
        self.client = client
        self.limiter = RateLimiter(redis)
        self.groups = UserGroups(client)

    def _parse(self, body: dict[str, Any]) -> tuple[Command | None, str | None, Any]:
        """(command, error, cluster config). Pure: config is cached; no network."""
        try:
            cmd = parse_command(body.get("text"))
        except UsageError as exc:
            return None, str(exc), None
        if cmd.help:
            return cmd, None, None
        try:
            cluster = self.settings.cluster(cmd.target.cluster)
        except ValueError:  # ConfigError: unknown cluster; answered as a cluster not allowed here would be
            return None, not_here(cmd.target.cluster), None
        return cmd, None, cluster

    def _access(self, body: dict[str, Any], cluster: Any) -> Decision:
        """Workspace and channel rules (bot.policy), decided without I/O."""
        try:
            access = Access(self.settings.file_config())
        except ValueError as exc:  # an unreadable config allows nothing
            return Decision(False, f"lbhealth's configuration cannot be read ({exc}).")
        return access.command(team_id=body.get("team_id"), channel_id=body.get("channel_id"), cluster=cluster)

    # -- within the 3 s: acknowledge, then hand off ----------------------------------------------
    def command(self, ack: Ack, body: dict[str, Any], request: BoltRequest) -> None:
        cmd, error, cluster = self._parse(body)
        allowed = self._access(body, cluster)  # help and bad input: the workspace rule only (cluster None)
        if not allowed:
            metrics.COMMANDS.labels("denied").inc()
            log.info("command refused by the access policy", extra={"channel": body.get("channel_id"),
                                                                    "team": body.get("team_id")})
            ack(response_type="ephemeral", **render_message("notice", text=allowed.reason))
        elif error is not None:
            metrics.COMMANDS.labels("bad_input").inc()
            ack(**_usage(body.get("command"), self.settings, error, body.get("channel_id")))
        elif cmd is not None and cmd.help:
            metrics.COMMANDS.labels("help").inc()
            ack(**_usage(body.get("command"), self.settings, channel_id=body.get("channel_id")))
        else:
            ack()
            retry = (request.headers.get("x-slack-retry-num") or [None])[0]
            try:
                intake.submit(self.redis, body, retry)
                metrics.COMMANDS.labels("accepted").inc()
            except Exception:  # Redis down: the user must hear about it (ack already said nothing)
                metrics.COMMANDS.labels("error").inc()
                log.exception("could not record the command")
                threading.Thread(target=self._ephemeral, daemon=True, args=(
                    self.client, Respond(response_url=body.get("response_url")), body,
                    {"text": "Sorry, lbhealth cannot queue work right now (its Redis is unavailable). "
                             "Try again in a minute."})).start()

    # -- after the acknowledgement (bot.slack.intake consumer) ------------------------------------
    def process(self, body: dict[str, Any], retry: str | None = None) -> None:
        """Everything after the acknowledgement, for one accepted command."""
        cmd, error, cluster = self._parse(body)
        if cmd is None or cmd.help or cmd.target is None or not self._access(body, cluster):
            return  # answered in the acknowledgement (or the config changed in between)
        respond = Respond(response_url=body.get("response_url") or None)
        member = Access(self.settings.file_config()).member(cluster, body.get("user_id"), self.groups)
        if not member:
            metrics.COMMANDS.labels("denied").inc()
            self._ephemeral(self.client, respond, body, render_message("notice", text=member.reason))
            return
        self.start(body, cmd, cluster, self.client, respond, retry)

    def start(self, body: dict[str, Any], cmd: Command, cluster: Any, client: WebClient, respond: Respond,
              retry: str | None) -> None:
        command_key = dedup_key(body)
        if not claim_command(self.redis, command_key):
            metrics.COMMANDS.labels("duplicate").inc()
            log.info("duplicate delivery of a command ignored", extra={"retry_num": retry})
            return
        # Counted after the dedup claim: Slack's retries of one command are not a person's new commands.
        within = self.limiter.command(self.settings.file_config(), body.get("user_id"))
        if not within:
            metrics.COMMANDS.labels("rate_limited").inc()
            log.info("command rate-limited", extra={"retry_after": within.retry_after})
            self._ephemeral(client, respond, body, render_message("notice", text=within.reason))
            return
        target = cmd.target
        job = DiagnosisJob(
            namespace=target.namespace,
            service=target.service,
            cluster=cluster.name if cluster else target.cluster,
            channel=body.get("channel_id") or "",
            requested_by=body.get("user_id"),
            origin="command",
            response_url=body.get("response_url"),
            team_id=body.get("team_id"),
        )

        def post_root(j: DiagnosisJob) -> str:
            resp = slack.call(client, "chat_postMessage", channel=j.channel, **render_message("root", job=j))
            return resp["ts"]

        with job_context(job.job_id):
            try:
                result = enqueue_diagnosis(
                    self.redis, job, post_root=post_root,
                    job_timeout=self.settings.lbhealth_job_timeout,
                    retry_intervals=self.settings.job_retry_intervals,
                )
            except SlackApiError as exc:
                error = slack.slack_error(exc) or "unknown"
                if error not in slack.PERMANENT:  # still failing after the client's retries: try again later
                    release_command(self.redis, command_key)
                    raise
                metrics.COMMANDS.labels("cannot_post").inc()
                log.warning("cannot post the root message", extra={"error": error, "channel": job.channel})
                if error in slack.NOT_IN_CHANNEL:
                    message = render_message("invite", error=error,
                                             command_text=f"{body.get('command', '/lbhealth')} {body.get('text', '')}".strip())
                else:
                    message = render_message("cannot_start", reason=f"Slack said {error}", retry=False)
                self._ephemeral(client, respond, body, message)
                return
            except Exception:  # Slack or Redis unreachable: nothing was queued; the intake tries again
                release_command(self.redis, command_key)
                raise
            if result.created:
                metrics.COMMANDS.labels("queued").inc()
                log.info("diagnosis queued", extra={"target": job.dedup_key, "channel": job.channel})
                return
            metrics.COMMANDS.labels("already_running").inc()
            permalink = result.permalink
            if not permalink and result.channel and result.root_ts:
                try:
                    permalink = slack.call(client, "chat_getPermalink", channel=result.channel,
                                           message_ts=result.root_ts)["permalink"]
                    update_record(self.redis, result.job_id, permalink=permalink)
                except SlackApiError:
                    permalink = None
            state = "running" if result.state == "running" else "queued"
            self._ephemeral(client, respond, body, render_message("busy", job=job, permalink=permalink, state=state))

    def give_up(self, body: dict[str, Any], reason: str) -> None:
        """The last attempt to start a diagnosis failed: tell the requester, privately."""
        metrics.COMMANDS.labels("error").inc()
        self._ephemeral(self.client, Respond(response_url=body.get("response_url") or None), body,
                        render_message("cannot_start", command_text=body.get("text"), reason=reason, retry=True))

    @staticmethod
    def _ephemeral(client: WebClient, respond: Respond, body: dict[str, Any], message: dict[str, Any]) -> None:
        """Ephemeral to the requester: response_url first (works even where the bot is not a member)."""
        try:
            if body.get("response_url"):
                respond(response_type="ephemeral", replace_original=False, **message)
                return
        except Exception:
            log.warning("response_url failed; trying chat.postEphemeral", exc_info=True)
        try:
            slack.call(client, "chat_postEphemeral", channel=body.get("channel_id"), user=body.get("user_id"), **message)
        except SlackApiError:
            log.warning("could not reach the requester", exc_info=True)

    def error(self, error: Exception, body: dict[str, Any]) -> None:
        metrics.COMMANDS.labels("error").inc()
        log.error("listener error", exc_info=error)
