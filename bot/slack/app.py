"""The bolt App (no listeners: the composition root, bot.app, registers them).

HTTP mode receives Slack's signed requests through bot.http; Socket Mode (`lbhealth serve
--socket-mode`) the same listeners over Slack's WebSocket.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from slack_bolt import App
from slack_sdk import WebClient

from bot.settings import Settings

log = logging.getLogger("lbhealth.slack")


def new_bolt_app(settings: Settings, client: WebClient, *, socket_mode: bool = False,
                 verify_token: bool = False) -> App:
    secret = settings.slack_signing_secret
    executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="bolt-listener")

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
            return make(True)
        except Exception as exc:  # Slack unreachable now: start anyway (webhooks, health); bolt retries per request
            log.warning("auth.test failed at start; retrying on the first command", extra={"error": str(exc)})
    return make(False)
