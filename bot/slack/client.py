"""The Slack Web API client every part of lbhealth uses, with the retry handlers Slack needs.

429s (with Retry-After) are retried: Slack did not take the call. Connection errors and 5xx
answers are retried only for methods that are safe to repeat: a `chat.postMessage` that timed out
or got a 5xx may have been accepted, and sending it again blindly posts it twice (a 20 s Slack
stall gave two root messages). Posts go through bot.slack.posting.post_once instead, which looks
for the message before posting again. `SLACK_API_URL` points the client elsewhere (tests, proxies).
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest

from bot import metrics
from bot.settings import Settings

log = logging.getLogger(__name__)

# Errors that mean "the bot cannot post here": tell the requester to invite it.
NOT_IN_CHANNEL = {"not_in_channel", "channel_not_found", "is_archived"}
# Errors that will not go away by retrying the same call.
PERMANENT = NOT_IN_CHANNEL | {
    "invalid_blocks", "msg_too_long", "msg_blocks_too_long", "invalid_auth", "not_authed", "account_inactive",
    "token_revoked", "missing_scope", "restricted_action", "message_not_found", "cant_update_message",
    "edit_window_closed", "invalid_arguments", "too_many_attachments",
}


# Methods whose repetition creates something a second time: never re-sent by the HTTP layer.
NOT_IDEMPOTENT = {"chat.postMessage", "chat.postEphemeral", "files.completeUploadExternal", "chat.scheduleMessage"}


def _method(request: HttpRequest) -> str:
    return request.url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]


class SafeConnectionErrorRetry(ConnectionErrorRetryHandler):
    def _can_retry(self, *, state, request, response=None, error=None) -> bool:
        return _method(request) not in NOT_IDEMPOTENT and super()._can_retry(
            state=state, request=request, response=response, error=error)


class SafeServerErrorRetry(ServerErrorRetryHandler):
    def _can_retry(self, *, state, request, response=None, error=None) -> bool:
        return _method(request) not in NOT_IDEMPOTENT and super()._can_retry(
            state=state, request=request, response=response, error=error)


def web_client(token: str | None, base_url: str | None = None, *, timeout: float = 15) -> WebClient:
    base = (base_url or WebClient.BASE_URL).rstrip("/") + "/"
    return WebClient(
        token=token,
        base_url=base,
        timeout=timeout,
        retry_handlers=[
            SafeConnectionErrorRetry(max_retry_count=2),
            RateLimitErrorRetryHandler(max_retry_count=3),
            SafeServerErrorRetry(max_retry_count=2),
        ],
    )


def client_from_settings(settings: Settings) -> WebClient:
    return web_client(settings.slack_bot_token, settings.slack_api_url, timeout=settings.lbhealth_slack_timeout)


def slack_error(exc: BaseException) -> str | None:
    if isinstance(exc, SlackApiError):
        try:
            return str(exc.response.get("error") or exc.response.status_code)
        except Exception:
            return "unknown"
    return None


def call(client: WebClient, method: str, **kwargs: Any):
    """client.<method>(**kwargs), counting failures in lbhealth_slack_api_errors_total."""
    try:
        return getattr(client, method)(**kwargs)
    except SlackApiError as exc:
        metrics.SLACK_API_ERRORS.labels(method, slack_error(exc) or "unknown").inc()
        raise
    except Exception as exc:
        metrics.SLACK_API_ERRORS.labels(method, type(exc).__name__).inc()
        raise
