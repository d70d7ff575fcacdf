"""Socket Mode: the same listeners, reached through bolt's socket-mode adapter (SocketModeHandler.handle)."""

from __future__ import annotations

import json
import logging

from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk.socket_mode.request import SocketModeRequest

from bot.app import build_app
from bot.queue import get_queue
from bot.slack.client import web_client
from tests.bot.conftest import wait_until


class RecordingSocketClient:
    """Stands in for the WebSocket client: records what the handler sends back to Slack."""

    def __init__(self) -> None:
        self.logger = logging.getLogger("test.socket")
        self.responses = []

    def send_socket_mode_response(self, response) -> None:
        self.responses.append(response)


def payload(text: str, response_url: str, trigger_id: str) -> dict:
    return {"token": "xxx", "team_id": "T111", "team_domain": "xxx", "channel_id": "C111", "channel_name": "random",
            "user_id": "U111", "user_name": "oncall", "command": "/lbhealth", "text": text, "api_app_id": "A111",
            "response_url": response_url, "trigger_id": trigger_id}


def test_slash_command_over_socket_mode(settings, redis, slack_api, worker_deps, intake):
    socket_settings = settings.model_copy(update={"slack_signing_secret": None, "slack_app_token": "xapp-test"})
    client = web_client("xoxb-test", slack_api.url)
    app = build_app(socket_settings, redis=redis, slack=client, socket_mode=True).bolt
    handler = SocketModeHandler(app, "xapp-test", web_client=client)  # not connected: no WebSocket in tests
    ws = RecordingSocketClient()

    handler.handle(ws, SocketModeRequest(type="slash_commands", envelope_id="env-1",
                                         payload=payload("shop/web", slack_api.response_url(), "5.a"),
                                         accepts_response_payload=True))
    assert [r.envelope_id for r in ws.responses] == ["env-1"]
    assert ws.responses[0].payload is None  # plain ack
    (root,) = slack_api.wait_for("chat.postMessage")
    assert root.args["text"] == "Diagnosing shop/web on prod, asked by <@U111>"
    wait_until(lambda: get_queue(redis).count == 1)

    # A redelivery of the same envelope (retry_attempt) creates no second job.
    handler.handle(ws, SocketModeRequest(type="slash_commands", envelope_id="env-1",
                                         payload=payload("shop/web", slack_api.response_url(), "5.a"),
                                         retry_attempt=1, retry_reason="timeout"))
    # Bad text: the usage comes back in the ack payload.
    handler.handle(ws, SocketModeRequest(type="slash_commands", envelope_id="env-2",
                                         payload=payload("Bad/Name", slack_api.response_url(), "5.b")))
    assert ws.responses[-1].envelope_id == "env-2"
    assert "not a valid namespace" in json.dumps(ws.responses[-1].payload)
    assert len(slack_api.calls_to("chat.postMessage")) == 1
    assert get_queue(redis).count == 1
