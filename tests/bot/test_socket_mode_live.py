"""`--socket-mode` wiring over a real WebSocket: SocketModeHandler(app).connect() against a local
WebSocket server (aiohttp) that delivers a slash command envelope and receives the ack."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest

from bot.app import build_app
from bot.queue import get_queue
from bot.slack.client import web_client
from tests.bot.conftest import wait_until

aiohttp_web = pytest.importorskip("aiohttp.web")


class WebSocketServer:
    """One WebSocket endpoint at /link: sends `hello`, then each queued envelope; records replies."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.outbox: asyncio.Queue | None = None
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.ready.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.outbox = asyncio.Queue()

        async def link(request):
            ws = aiohttp_web.WebSocketResponse()
            await ws.prepare(request)
            await ws.send_str(json.dumps({"type": "hello", "num_connections": 1}))

            async def pump():
                while True:
                    await ws.send_str(json.dumps(await self.outbox.get()))

            task = asyncio.ensure_future(pump())
            async for msg in ws:
                if msg.type == 1:  # TEXT
                    self.received.append(json.loads(msg.data))
            task.cancel()
            return ws

        app = aiohttp_web.Application()
        app.router.add_get("/link", link)
        self.runner = aiohttp_web.AppRunner(app)
        self.loop.run_until_complete(self.runner.setup())
        site = aiohttp_web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()

    def send(self, envelope: dict) -> None:
        self.loop.call_soon_threadsafe(self.outbox.put_nowait, envelope)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)


def test_socket_mode_connects_and_acks_a_command(settings, redis, slack_api, worker_deps, intake):
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    server = WebSocketServer()
    slack_api.socket_mode_url = f"ws://127.0.0.1:{server.port}/link"
    socket_settings = settings.model_copy(update={"slack_signing_secret": None, "slack_app_token": "xapp-test"})
    client = web_client("xoxb-test", slack_api.url)
    handler = SocketModeHandler(build_app(socket_settings, redis=redis, slack=client, socket_mode=True).bolt, "xapp-test",
                                web_client=client, auto_reconnect_enabled=False)
    try:
        handler.connect()
        server.send({"envelope_id": "env-live-1", "type": "slash_commands", "accepts_response_payload": True,
                     "payload": {"team_id": "T111", "channel_id": "C111", "user_id": "U111",
                                 "command": "/lbhealth", "text": "shop/web", "trigger_id": "live.1",
                                 "response_url": slack_api.response_url(), "api_app_id": "A111"}})
        wait_until(lambda: any(r.get("envelope_id") == "env-live-1" for r in server.received), timeout=10)
        (root,) = slack_api.wait_for("chat.postMessage")
        assert root.args["text"] == "Diagnosing shop/web on prod, asked by <@U111>"
        wait_until(lambda: get_queue(redis).count == 1)
        assert slack_api.calls_to("apps.connections.open")
    finally:
        handler.close()
        server.stop()
