"""A local fake of the Slack Web API that records every call (tests and benches only).

Modelled on bolt-python's tests/mock_web_api_server: a threaded ``http.server`` on loopback that
answers the methods lbhealth uses with canned, Slack-shaped JSON and remembers what it was asked.
Point ``WebClient(base_url=fake.url)`` (or ``SLACK_API_URL``) at it.

    fake = FakeSlackAPI()            # listening on 127.0.0.1:<free port>
    fake.fail("chat.postMessage", error="not_in_channel")             # next call fails once
    fake.fail("chat.update", status=429, retry_after=1, times=2)      # rate-limited twice
    ...
    fake.stall(20, methods={"chat.postMessage"})  # for 20 s: take these calls, answer only when it ends
    fake.fail("chat.postMessage", status=503, accept=True)  # the post is taken, the answer is a 503
    fake.outage(300)                     # every call answered 503 (nothing done) for 5 minutes
    fake.calls_to("chat.postMessage")   # [Call(method, args, headers), ...]
    fake.wait_for("chat.update", count=1, timeout=10)
    fake.stop()

Answered methods: auth.test, chat.postMessage (``ts`` increases), chat.update, chat.postEphemeral,
chat.getPermalink, conversations.history and conversations.replies (with messages' ``metadata``
when ``include_all_metadata`` is set), conversations.join, usergroups.users.list (``fake.usergroups``),
files.getUploadURLExternal, the upload URL itself
(``/upload/<file_id>``), files.completeUploadExternal, and ``response_url`` posts
(``fake.response_url()`` hands out URLs under ``/response/<n>``). Any other ``/api/<method>``
answers ``{"ok": true}`` and is recorded too.

Arguments are decoded whatever the encoding slack_sdk chose: JSON bodies, form bodies and query
strings are merged into ``Call.args``; JSON-encoded form values (``blocks``, ``files``) are parsed.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlparse

BOT_USER_ID = "U0LBHEALTH"
BOT_ID = "B0LBHEALTH"
TEAM_ID = "T0LBHEALTH"


@dataclass
class Call:
    method: str  # "chat.postMessage", "upload", "response_url"
    args: dict[str, Any]
    headers: dict[str, str]
    path: str
    raw: bytes = b""
    at: float = field(default_factory=time.time)
    response: dict[str, Any] | None = None  # what the fake answered (JSON methods)


@dataclass
class _Failure:
    method: str
    error: str | None
    status: int
    retry_after: int | None
    remaining: int  # -1 = forever
    channel: str | None
    accept: bool = False  # process the call (e.g. post the message) and still answer the failure


class FakeSlackAPI:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self.calls: list[Call] = []
        self._failures: list[_Failure] = []
        self._ts = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._response_ids = itertools.count(1)
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}  # (channel, ts) -> message
        self.uploads: dict[str, bytes] = {}  # file_id -> content
        self.files: dict[str, dict[str, Any]] = {}  # file_id -> {title, channel, thread_ts, content}
        self.base_ts = int(time.time())
        self.socket_mode_url: str | None = None  # what apps.connections.open hands out (ws://...)
        self.usergroups: dict[str, list[str]] = {}  # usergroups.users.list: group id -> member user ids
        self._stall_until = 0.0
        self._stall_methods: set[str] | None = None
        self._outage_until = 0.0
        fake = self

        class Handler(_Handler):
            owner = fake

        self.server = _Server((host, port), Handler)
        self.server.daemon_threads = True
        self.host, self.port = self.server.server_address[:2]
        self._thread = threading.Thread(target=self.server.serve_forever, name="fake-slack-api", daemon=True)
        self._thread.start()

    # -- addresses ---------------------------------------------------------------------------
    @property
    def root(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The Web API base URL (what SLACK_API_URL / WebClient(base_url=...) takes)."""
        return f"{self.root}/api/"

    def response_url(self) -> str:
        return f"{self.root}/response/{next(self._response_ids)}"

    # -- programming failures ------------------------------------------------------------------
    def fail(
        self,
        method: str,
        *,
        error: str | None = None,
        status: int | None = None,
        retry_after: int | None = None,
        times: int = 1,
        channel: str | None = None,
        accept: bool = False,
    ) -> None:
        """Make the next ``times`` calls to ``method`` fail (``times=-1``: every call).

        ``error`` gives ``{"ok": false, "error": error}`` (HTTP 200, as Slack does); ``status=429``
        answers ``{"ok": false, "error": "ratelimited"}`` with ``Retry-After: retry_after`` (default 1).
        ``channel`` restricts the failure to calls for that channel. ``accept=True``: the call is
        carried out (a message is posted) and the failure answered anyway, as a Slack 5xx can be.
        """
        if status is None:
            status = 429 if retry_after is not None else 200
        if status == 429 and retry_after is None:
            retry_after = 1
        if status == 429 and error is None:
            error = "ratelimited"
        with self._lock:
            self._failures.append(_Failure(method, error or "fatal_error", status, retry_after, times, channel, accept))

    def stall(self, seconds: float, methods: set[str] | None = None) -> None:
        """For ``seconds`` from now, Slack is stalled: calls (to ``methods``, default all) are carried out
        when they arrive, as Slack may accept a post it is slow to confirm, but answered only when the
        stall ends. A client whose timeout is shorter sees a timeout for a call that did happen."""
        with self._lock:
            self._stall_until = time.monotonic() + seconds
            self._stall_methods = set(methods) if methods else None

    def outage(self, seconds: float) -> None:
        """For ``seconds`` from now, every Web API call is answered 503 and nothing is carried out."""
        with self._lock:
            self._outage_until = time.monotonic() + seconds

    def _in_outage(self) -> bool:
        with self._lock:
            return time.monotonic() < self._outage_until

    def _stalled(self, method: str) -> float:
        with self._lock:
            left = self._stall_until - time.monotonic()
            if left <= 0 or (self._stall_methods is not None and method not in self._stall_methods):
                return 0.0
            return left

    def clear_failures(self) -> None:
        with self._lock:
            self._failures.clear()
            self._stall_until = 0.0

    # -- inspecting ----------------------------------------------------------------------------
    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def methods(self) -> list[str]:
        with self._lock:
            return [c.method for c in self.calls]

    def wait_for(self, method: str, count: int = 1, timeout: float = 10.0, where=None) -> list[Call]:
        """Block until ``count`` calls to ``method`` (matching ``where(call)``) were received."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [c for c in self.calls if c.method == method and (where is None or where(c))]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [c.method for c in self.calls]
                    raise AssertionError(f"expected {count} {method} call(s) within {timeout}s; saw {seen}")
                self._cond.wait(left)

    def thread(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """Replies posted in a thread, in order (messages with that thread_ts)."""
        with self._lock:
            msgs = [m for (ch, _), m in self.messages.items() if ch == channel and m.get("thread_ts") == thread_ts]
        return sorted(msgs, key=lambda m: float(m["ts"]))

    def roots(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Top-level messages posted (not thread replies), in order."""
        with self._lock:
            msgs = [m for (ch, _), m in self.messages.items() if (channel is None or ch == channel)
                    and not m.get("thread_ts")]
        return sorted(msgs, key=lambda m: float(m["ts"]))

    def reset(self) -> None:
        with self._lock:
            self._stall_until = 0.0
            self._outage_until = 0.0
            self.calls.clear()
            self._failures.clear()
            self.messages.clear()
            self.uploads.clear()
            self.files.clear()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> FakeSlackAPI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- internals -----------------------------------------------------------------------------
    def _next_ts(self) -> str:
        return f"{self.base_ts}.{next(self._ts):06d}"

    def _record(self, call: Call) -> _Failure | None:
        with self._cond:
            self.calls.append(call)
            failure = None
            for f in self._failures:
                if f.method != call.method or f.remaining == 0:
                    continue
                if f.channel is not None and call.args.get("channel", call.args.get("channel_id")) != f.channel:
                    continue
                failure = f
                if f.remaining > 0:
                    f.remaining -= 1
                break
            self._cond.notify_all()
            return failure

    def _answer(self, call: Call) -> dict[str, Any]:
        a = call.args
        m = call.method
        if m == "auth.test":
            return {
                "ok": True,
                "url": "https://lbhealth-test.slack.com/",
                "team": "lbhealth-test",
                "user": "lbhealth",
                "team_id": TEAM_ID,
                "user_id": BOT_USER_ID,
                "bot_id": BOT_ID,
                "is_enterprise_install": False,
            }
        if m == "chat.postMessage":
            channel = a.get("channel")
            if not channel:
                return {"ok": False, "error": "channel_not_found"}
            ts = self._next_ts()
            msg = {"type": "message", "ts": ts, "text": a.get("text", ""), "blocks": a.get("blocks") or [],
                   "bot_id": BOT_ID, "user": BOT_USER_ID, "channel": channel}
            if a.get("thread_ts"):
                msg["thread_ts"] = a["thread_ts"]
            if isinstance(a.get("metadata"), dict):
                msg["metadata"] = a["metadata"]
            with self._lock:
                self.messages[(channel, ts)] = msg
            return {"ok": True, "channel": channel, "ts": ts, "message": msg}
        if m == "chat.update":
            key = (a.get("channel"), a.get("ts"))
            with self._lock:
                msg = self.messages.get(key)
                if msg is None:
                    return {"ok": False, "error": "message_not_found"}
                msg.update({"text": a.get("text", ""), "blocks": a.get("blocks") or [], "edited": True})
            return {"ok": True, "channel": key[0], "ts": key[1], "text": msg["text"], "message": msg}
        if m == "chat.postEphemeral":
            if not a.get("channel") or not a.get("user"):
                return {"ok": False, "error": "invalid_arguments"}
            return {"ok": True, "message_ts": self._next_ts()}
        if m == "chat.getPermalink":
            ch, ts = a.get("channel"), a.get("message_ts")
            if not ch or not ts:
                return {"ok": False, "error": "invalid_arguments"}
            return {"ok": True, "channel": ch,
                    "permalink": f"https://lbhealth-test.slack.com/archives/{ch}/p{str(ts).replace('.', '')}"}
        if m in ("conversations.history", "conversations.replies"):
            return self._conversation(m, a)
        if m == "apps.connections.open":
            if not self.socket_mode_url:
                return {"ok": False, "error": "not_allowed_token_type"}
            return {"ok": True, "url": self.socket_mode_url}
        if m == "usergroups.users.list":
            with self._lock:
                users = self.usergroups.get(a.get("usergroup") or "")
            if users is None:
                return {"ok": False, "error": "no_such_subteam"}
            return {"ok": True, "users": list(users)}
        if m == "conversations.join":
            return {"ok": True, "channel": {"id": a.get("channel")}}
        if m == "files.getUploadURLExternal":
            file_id = f"F{next(self._file_ids):08d}"
            return {"ok": True, "file_id": file_id, "upload_url": f"{self.root}/upload/{file_id}"}
        if m == "files.completeUploadExternal":
            files = a.get("files") or []
            out = []
            for f in files:
                fid = f.get("id")
                with self._lock:
                    content = self.uploads.get(fid)
                    if content is None:
                        return {"ok": False, "error": "file_not_found"}
                    self.files[fid] = {"id": fid, "title": f.get("title"), "channel": a.get("channel_id"),
                                       "thread_ts": a.get("thread_ts"), "initial_comment": a.get("initial_comment"),
                                       "content": content}
                out.append({"id": fid, "title": f.get("title"), "name": f.get("title")})
            return {"ok": True, "files": out}
        return {"ok": True}


    def _conversation(self, method: str, a: dict[str, Any]) -> dict[str, Any]:
        """conversations.history (top-level messages, newest first, from ``oldest``) or
        conversations.replies (the parent ``ts`` and its replies, oldest first)."""
        channel = a.get("channel")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        with self._lock:
            msgs = [dict(m) for (ch, _), m in self.messages.items() if ch == channel]
        if method == "conversations.history":
            oldest = float(a.get("oldest") or 0)
            msgs = [m for m in msgs if not m.get("thread_ts") and float(m["ts"]) >= oldest]
            msgs.sort(key=lambda m: float(m["ts"]), reverse=True)
        else:
            parent = a.get("ts")
            msgs = [m for m in msgs if m["ts"] == parent or m.get("thread_ts") == parent]
            if not any(m["ts"] == parent for m in msgs):
                return {"ok": False, "error": "thread_not_found"}
            msgs.sort(key=lambda m: float(m["ts"]))
        if str(a.get("include_all_metadata")).lower() not in ("true", "1"):
            for m in msgs:
                m.pop("metadata", None)
        for m in msgs:
            m.pop("channel", None)
        return {"ok": True, "messages": msgs, "has_more": False, "response_metadata": {"next_cursor": ""}}


class _Server(ThreadingHTTPServer):
    request_queue_size = 1024  # the default listen backlog (5) resets connections under bursts
    daemon_threads = True


class _Handler(BaseHTTPRequestHandler):
    owner: FakeSlackAPI
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _send(self, status: int, body: bytes, content_type: str = "application/json; charset=utf-8",
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        parsed = urlparse(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        path = parsed.path
        if path == "/_calls":  # for a fake running in another process (benches)
            with self.owner._lock:
                calls = [{"method": c.method, "args": c.args, "at": c.at, "response": c.response}
                         for c in self.owner.calls]
            self._send(200, json.dumps(calls, default=str).encode())
            return
        if path == "/_count":  # ?method=chat.update
            method = dict(parse_qsl(parsed.query)).get("method")
            self._send(200, json.dumps({"count": len(self.owner.calls_to(method))}).encode())
            return
        if path == "/_reset":
            self.owner.reset()
            self._send(200, b"{}")
            return
        if path.startswith("/upload/"):
            fid = path.rsplit("/", 1)[1]
            call = Call("upload", {"file_id": fid, "size": len(raw)}, headers, path, raw)
            self.owner._record(call)
            with self.owner._lock:
                self.owner.uploads[fid] = _multipart_payload(raw, headers.get("content-type", ""))
            self._send(200, b"OK - " + str(len(raw)).encode(), "text/plain")
            return
        if path.startswith("/response/"):
            args = _decode(raw, headers.get("content-type", ""), parsed.query)
            self.owner._record(Call("response_url", args, headers, path, raw))
            self._send(200, b"ok", "text/plain")
            return
        if not path.startswith("/api/"):
            self._send(404, b'{"ok": false, "error": "unknown_method"}')
            return
        method = path[len("/api/"):]
        args = _decode(raw, headers.get("content-type", ""), parsed.query)
        call = Call(method, args, headers, path, raw)
        failure = self.owner._record(call)
        if self.owner._in_outage():
            self._send(503, b"<html>503 Service Unavailable</html>", "text/html")
            return
        stall = self.owner._stalled(method)
        auth = headers.get("authorization", "")
        authed = method == "api.test" or auth.startswith("Bearer ") or "token" in args
        if authed and (failure is None or failure.accept):
            call.response = self.owner._answer(call)  # carried out now, even if answered late or with an error
        if stall:
            time.sleep(stall)
        if failure is not None:
            extra = {}
            if failure.status == 429:
                extra["Retry-After"] = str(failure.retry_after)
            body = json.dumps({"ok": False, "error": failure.error}).encode()
            self._send(failure.status, body, headers=extra)
            return
        if not authed:
            self._send(200, b'{"ok": false, "error": "not_authed"}')
            return
        self._send(200, json.dumps(call.response).encode())


def _decode(raw: bytes, content_type: str, query: str) -> dict[str, Any]:
    args: dict[str, Any] = dict(parse_qsl(query))
    if raw:
        if "json" in content_type:
            try:
                args.update(json.loads(raw))
            except ValueError:
                args["_raw"] = raw.decode("utf-8", "replace")
        elif "multipart" in content_type:
            args["_multipart"] = True
        else:
            args.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    for key in ("blocks", "files", "attachments", "metadata"):
        value = args.get(key)
        if isinstance(value, str):
            try:
                args[key] = json.loads(value)
            except ValueError:
                pass
    return args


def _multipart_payload(raw: bytes, content_type: str) -> bytes:
    """The file content of an upload (raw body, or the first part of a multipart body)."""
    if "multipart" not in content_type or "boundary=" not in content_type:
        return raw
    boundary = content_type.split("boundary=", 1)[1].strip().strip('"').encode()
    for part in raw.split(b"--" + boundary):
        if b"\r\n\r\n" in part:
            head, _, body = part.partition(b"\r\n\r\n")
            if b"filename=" in head or b"name=" in head:
                return body.rstrip(b"\r\n")
    return raw


def main() -> None:
    """`python -m tests.fakes.slack_api PORT_FILE`: serve until killed; write the base URL to PORT_FILE."""
    import sys
    from pathlib import Path

    api = FakeSlackAPI()
    Path(sys.argv[1]).write_text(api.root)
    threading.Event().wait()


if __name__ == "__main__":
    main()
