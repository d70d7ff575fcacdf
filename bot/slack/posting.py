"""Post a Slack message exactly once, even when Slack is slow.

`chat.postMessage` is not idempotent: a call that timed out, lost its connection or got a 5xx
may still have been accepted. Every message posted here carries a marker in its metadata
(`event_type` lbhealth_post, `event_payload` {"key": marker}); after such an answer, the channel
(`conversations.history`) or the thread (`conversations.replies`) is searched for the marker, and
the message is posted again only by a later attempt that searched first and did not find it.

    ts = post_once(client, channel=C, marker=f"{job_id}:reply:0", thread_ts=root, **message)

`PostUnknown`: Slack may or may not have the message and the search could not tell (Slack still
stalled). The caller tries again later (rq Retry, the intake's retry budget, the incident sweeper)
with `search_first=True`, so that the message is posted only if it is not there.
Needs the `channels:history` and `groups:history` scopes (deploy/slack-app-manifest.yaml).
"""

from __future__ import annotations

import http.client
import logging
import socket
import time
from typing import Any
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack import client as slack

log = logging.getLogger("lbhealth.slack")

EVENT_TYPE = "lbhealth_post"
SEARCH_WINDOW = 24 * 3600  # a root message is looked for among the channel's messages of the last day
SEARCH_PAGES = 5


class PostUnknown(Exception):
    """Slack may have accepted the post and the search could not say: try again later, searching first."""


def sent_maybe(exc: BaseException) -> bool:
    """True when a failed call may still have been processed by Slack (timeout, lost connection, 5xx)."""
    if isinstance(exc, SlackApiError):
        status = getattr(exc.response, "status_code", 200) or 200
        return status >= 500
    if isinstance(exc, URLError):
        reason = exc.reason
        # refused / unresolvable: the request never left
        return not isinstance(reason, ConnectionRefusedError | socket.gaierror)
    return isinstance(exc, TimeoutError | ConnectionError | http.client.HTTPException | OSError)


def post_once(client: WebClient, *, channel: str, marker: str, thread_ts: str | None = None,
              search_first: bool = False, **message: Any) -> str:
    """Post `message` unless a message with `marker` is already there; returns its ts."""
    if search_first:
        found = find_posted(client, channel=channel, marker=marker, thread_ts=thread_ts)
        if found:
            return found
    metadata = {"event_type": EVENT_TYPE, "event_payload": {"key": marker}}
    kwargs = {"thread_ts": thread_ts} if thread_ts else {}
    try:
        return slack.call(client, "chat_postMessage", channel=channel, metadata=metadata, **kwargs, **message)["ts"]
    except Exception as exc:
        if not sent_maybe(exc):
            raise
        log.warning("Slack may have taken a post it did not confirm; looking for it",
                    extra={"marker": marker, "error": type(exc).__name__})
        failure = exc
    found = find_posted(client, channel=channel, marker=marker, thread_ts=thread_ts)
    if found:
        return found
    raise PostUnknown(f"chat.postMessage unconfirmed ({type(failure).__name__}) and not found yet") from failure


def find_posted(client: WebClient, *, channel: str, marker: str, thread_ts: str | None = None) -> str | None:
    """The ts of the message carrying `marker` (in the thread when thread_ts), or None; PostUnknown if
    Slack cannot be asked."""
    method = "conversations_replies" if thread_ts else "conversations_history"
    args: dict[str, Any] = {"channel": channel, "include_all_metadata": True, "limit": 200}
    if thread_ts:
        args["ts"] = thread_ts
    else:
        args["oldest"] = str(time.time() - SEARCH_WINDOW)
    try:
        for _ in range(SEARCH_PAGES):
            resp = slack.call(client, method, **args)
            for m in resp.get("messages") or []:
                meta = m.get("metadata") or {}
                if meta.get("event_type") == EVENT_TYPE and (meta.get("event_payload") or {}).get("key") == marker:
                    return m.get("ts")
            cursor = (resp.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None
            args["cursor"] = cursor
    except Exception as exc:
        raise PostUnknown(f"could not look for the post ({slack.slack_error(exc) or type(exc).__name__})") from exc
    return None
