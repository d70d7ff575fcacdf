"""Strangers get a 4xx, never a 5xx or a traceback, and cost the web tier no I/O (issue 9 items 3-4).

The real web app (bot.http.create_app: bolt, the alarm webhooks) is served by waitress on loopback,
with real Redis and the fake Slack API. The SNS certificate source is the production one
(HttpsCertificateSource) with its requests session sent through a loopback host that accepts and
never answers (tests/fakes/silent_host.py): a forged notification naming a new certificate must not
hold the request thread. Every log line the process writes meanwhile goes through bot.logs'
formatter and is checked: JSON, bounded, no body, no secret, no response_url, no traceback.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import logging
import secrets
import threading
import time
import uuid
from urllib.parse import urlencode

import pytest
import requests

from bot.logs import MAX_LINE, json_handler
from bot.webhooks.sns import HttpsCertificateSource
from tests.bot.conftest import SECRET, Server, command_body, make_settings, post, signed_headers
from tests.fakes.silent_host import SilentHost
from tests.webhooks import payloads as p
from tests.webhooks.sns_signing import TOPIC

TENCENT_SECRET = "tc-path-secret-7f3a9b"
EVENTBRIDGE_SECRET = "eb-header-secret-51c2"
MARKER = "BODYMARKER-5e1f"  # in every hostile body: must never appear in a log line
RESPONSE_URL_MARK = "respurl-9d2c"


@pytest.fixture
def silent():
    with SilentHost() as host:
        yield host


@pytest.fixture
def logs():
    """Every record of the process, formatted as `lbhealth serve` formats it."""
    stream = io.StringIO()
    handler = json_handler(stream)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)


@pytest.fixture
def app(redis_url, slack_api, config_file, silent, worker_deps, intake):
    from bot.app import build_app

    settings = make_settings(redis_url, slack_api.url, config_file, lbhealth_sns_topics=TOPIC,
                             lbhealth_tencent_webhook_secret=TENCENT_SECRET,
                             lbhealth_eventbridge_secret=EVENTBRIDGE_SECRET)
    session = requests.Session()
    session.trust_env = False
    session.proxies = {"https": silent.url}  # the certificate "host" hangs
    built = build_app(settings, webhook_options={"cert_source": HttpsCertificateSource(session=session)})
    server = Server(built.flask)
    yield server
    server.stop()
    built.close()


def _signed(body: str | bytes, content_type: str = "application/x-www-form-urlencoded", ts: str | None = None) -> dict:
    """Slack's signature over the raw bytes (slack_sdk's generator takes text: not for non-UTF-8 bodies)."""
    raw = body if isinstance(body, bytes) else body.encode()
    ts = ts or str(int(time.time()))
    digest = hmac.new(SECRET.encode(), b"v0:" + ts.encode() + b":" + raw, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": "v0=" + digest, "Content-Type": content_type}


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def slack_cases() -> list[tuple[str, bytes | str, dict, int]]:
    good_form = command_body(f"shop/web {MARKER}", response_url=f"http://127.0.0.1:9/{RESPONSE_URL_MARK}")
    nested_obj = "{\"a\":" * 10_000 + "1" + "}" * 10_000
    return [
        ("timestamp not a number", good_form, {"X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": "v0=" + "0" * 64,
                                              "Content-Type": "application/x-www-form-urlencoded"}, 401),
        ("timestamp huge", good_form, {"X-Slack-Request-Timestamp": "9" * 40, "X-Slack-Signature": "v0=" + "0" * 64}, 401),
        ("no headers", good_form, {"Content-Type": "application/x-www-form-urlencoded"}, 401),
        ("signature garbage", good_form, {**_signed(good_form), "X-Slack-Signature": "v0=zz" + MARKER}, 401),
        ("bad signature", good_form, {**_signed(good_form), "X-Slack-Signature": "v0=" + "a" * 64}, 401),
        ("stale", good_form, _signed(good_form, ts=str(int(time.time()) - 3600)), 401),
        ("payload=%7B unsigned", f"payload=%7B{MARKER}", {"Content-Type": "application/x-www-form-urlencoded"}, 401),
        ("payload=%7B signed", "payload=%7B", _signed("payload=%7B"), 400),
        ("payload=null unsigned", "payload=null", {"Content-Type": "application/x-www-form-urlencoded"}, 401),
        ("payload=null signed", "payload=null", _signed("payload=null"), 400),
        ("payload list signed", "payload=%5B1%5D", _signed("payload=%5B1%5D"), 400),
        ("payload twice signed", "payload=%7B%7D&payload=%7B%7D", _signed("payload=%7B%7D&payload=%7B%7D"), 400),
        ("nested payload signed", "payload=" + _nested(20_000), _signed("payload=" + _nested(20_000)), 400),
        ("nested json unsigned", _nested(30_000) + MARKER, {"Content-Type": "application/json"}, 401),
        ("nested json signed", nested_obj, _signed(nested_obj, "application/json"), 400),
        ("json null signed", "null", _signed("null", "application/json"), 400),
        ("text/plain signed", good_form, _signed(good_form, "text/plain"), 415),
        ("multipart unsigned", good_form, {"Content-Type": "multipart/form-data; boundary=x"}, 401),
        ("not utf-8 signed", b"text=\xff\xfe", _signed(b"text=\xff\xfe"), 400),
        ("too large", "x" * (70 * 1024), _signed("x" * (70 * 1024)), 413),
    ]


def webhook_cases() -> list[tuple[str, str, bytes | str, dict, int]]:
    cw, tc = "/webhooks/cloudwatch", f"/webhooks/tencent/{TENCENT_SECRET}"
    sns = {"Type": "Notification", "MessageId": str(uuid.uuid4()), "TopicArn": TOPIC, "Message": MARKER,
           "Timestamp": "2026-01-01T00:00:00.000Z", "SignatureVersion": "1", "Signature": "AAAA",
           "SigningCertURL": "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem"}
    return [
        ("sns not json", cw, "{" + MARKER, {}, 400),
        ("sns null", cw, "null", {}, 400),
        ("sns list", cw, "[1,2]", {}, 400),
        ("sns nested", cw, _nested(30_000), {}, 400),
        ("sns TopicArn list", cw, json.dumps({**sns, "TopicArn": [TOPIC]}), {}, 400),
        ("sns TopicArn object", cw, json.dumps({**sns, "TopicArn": {"a": MARKER}}), {}, 400),
        ("sns Signature list", cw, json.dumps({**sns, "Signature": [MARKER]}), {}, 400),
        ("sns Type number", cw, json.dumps({**sns, "Type": 7}), {}, 400),
        ("sns unknown topic", cw, json.dumps({**sns, "TopicArn": TOPIC + "-x"}), {}, 403),
        ("sns cert elsewhere", cw, json.dumps({**sns, "SigningCertURL": "https://evil.example/SimpleNotificationService-ab12cd34.pem"}), {}, 403),
        ("sns cert other region", cw, json.dumps({**sns, "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-ab12cd34.pem"}), {}, 403),
        ("sns stale", cw, json.dumps(sns), {}, 403),
        ("sns not utf-8", cw, b"\xff\xfe{", {}, 400),
        ("sns form", cw, "a=1&b=" + MARKER, {"Content-Type": "application/x-www-form-urlencoded"}, 400),
        ("sns too large", cw, "x" * (300 * 1024), {}, 413),
        ("eventbridge no secret", "/webhooks/eventbridge", _nested(30_000), {}, 403),
        ("eventbridge nested", "/webhooks/eventbridge", _nested(30_000), {"X-Lbhealth-Secret": EVENTBRIDGE_SECRET}, 400),
        ("tencent wrong secret", "/webhooks/tencent/" + MARKER, json.dumps(p.tencent_clb()), {}, 403),
        ("tencent nested", tc, _nested(30_000), {}, 400),
        ("tencent list", tc, "[]", {}, 400),
        ("tencent status list", tc, json.dumps({**p.tencent_clb(), "alarmStatus": [1]}), {}, 400),
        ("tencent dims list", tc, json.dumps({**p.tencent_clb(), "alarmObjInfo": [MARKER]}), {}, 400),
    ]


def assert_clean(logs: io.StringIO, *, allow_error_lines: bool = False, allow_tracebacks: bool = False) -> list[dict]:
    lines = logs.getvalue().splitlines()
    records = []
    for line in lines:
        assert len(line) <= MAX_LINE, f"log line of {len(line)} characters"
        record = json.loads(line)
        records.append(record)
        for needle in (MARKER, TENCENT_SECRET, EVENTBRIDGE_SECRET, SECRET, RESPONSE_URL_MARK, "xoxb-test"):
            assert needle not in line, f"{needle!r} logged: {line[:300]}"
        assert allow_tracebacks or "Traceback" not in line, line[:500]
        assert allow_error_lines or record["level"] not in ("error", "critical"), line[:500]
    return records


def test_slack_malformed_requests_get_4xx_and_leave_clean_logs(app, logs, slack_api):
    for name, body, headers, expected in slack_cases():
        status, answer, _ = post(app.url + "/slack/events", body, headers)
        assert status == expected, (name, status, answer[:200])
        assert b"Traceback" not in answer and MARKER.encode() not in answer, name
    records = assert_clean(logs)
    assert any(r.get("reason") == "X-Slack-Request-Timestamp is missing or not a number" for r in records)
    assert slack_api.calls_to("chat.postMessage") == []


def test_a_signed_command_still_passes_the_gate(app, logs, slack_api):
    body = command_body("shop/web", response_url=slack_api.response_url())
    status, answer, _ = post(app.url + "/slack/events", body, signed_headers(body))
    assert status == 200, answer


def test_webhook_malformed_requests_get_4xx_and_leave_clean_logs(app, logs):
    for name, path, body, headers, expected in webhook_cases():
        status, answer, _ = post(app.url + path, body, {"Content-Type": "text/plain", **headers})
        assert status == expected, (name, status, answer[:300])
        assert b"Traceback" not in answer, name
    assert_clean(logs)


def forged_notification() -> dict:
    """An allowed topic (not a secret), a fresh random certificate name in the topic's region, junk signature."""
    return {"Type": "Notification", "MessageId": str(uuid.uuid4()), "TopicArn": TOPIC, "Message": "{}",
            "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()), "SignatureVersion": "1",
            "Signature": base64.b64encode(secrets.token_bytes(256)).decode(),
            "SigningCertURL": f"https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-{secrets.token_hex(16)}.pem"}


def test_forged_sns_storm_with_a_hanging_certificate_host_leaves_commands_acknowledged(app, logs, slack_api, silent):
    """48 forged notifications at once, each naming a new certificate whose host never answers, while
    20 signed commands arrive: every command is acknowledged (200), every forgery answered 503
    (retryable: SNS would retry; a stranger just goes away), and at most 4 fetches were started."""
    results: dict[str, list[int]] = {"sns": [], "command": []}
    lock = threading.Lock()

    def send(kind: str, url: str, body: str, headers: dict) -> None:
        status, _, _ = post(url, body, headers, timeout=30)
        with lock:
            results[kind].append(status)

    threads = [threading.Thread(target=send, args=("sns", app.url + "/webhooks/cloudwatch",
                                                   json.dumps(forged_notification()), {"Content-Type": "text/plain"}))
               for _ in range(48)]
    for i in range(20):
        body = command_body(f"shop/web-{i}", response_url=slack_api.response_url(), trigger_id=f"storm.{i}")
        threads.append(threading.Thread(target=send, args=("command", app.url + "/slack/events", body,
                                                           signed_headers(body))))
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results["command"] == [200] * 20
    assert sorted(set(results["sns"])) == [503] and len(results["sns"]) == 48
    time.sleep(0.5)
    assert 1 <= len(silent.requests) <= 4, silent.requests  # CertificateFetcher.max_inflight
    assert all(r.startswith(b"CONNECT sns.eu-west-1.amazonaws.com:443") for r in silent.requests), silent.requests
    assert_clean(logs)


def test_a_forged_certificate_url_is_fetched_once_then_refused_from_the_negative_cache(app, logs, silent):
    msg = forged_notification()
    for _ in range(3):
        msg["MessageId"] = str(uuid.uuid4())
        status, _, headers = post(app.url + "/webhooks/cloudwatch", json.dumps(msg), {"Content-Type": "text/plain"})
        assert status == 503 and headers.get("Retry-After") == "20"
    time.sleep(6)  # the fetch times out (2 s connect + 3 s read at most): a transient failure, remembered 15 s
    status, answer, _ = post(app.url + "/webhooks/cloudwatch", json.dumps(msg), {"Content-Type": "text/plain"})
    assert status == 503 and b"could not fetch" in answer
    assert len(silent.requests) == 1
    assert_clean(logs)


def test_no_response_url_in_the_lines_logged_when_redis_is_down(redis_url, slack_api, config_file, logs):
    """With Redis down the listener logs its failure (with a traceback): the line names no response_url."""
    import redis as redis_lib

    from bot.app import build_app
    from tests.fakes.redis_server import free_port

    settings = make_settings(f"redis://127.0.0.1:{free_port()}/0", slack_api.url, config_file)
    down = redis_lib.Redis.from_url(settings.redis_url, socket_connect_timeout=0.5)
    built = build_app(settings, redis=down)
    server = Server(built.flask)
    try:
        body = urlencode({"team_id": "T111", "channel_id": "C111", "user_id": "U111", "command": "/lbhealth",
                          "text": "shop/web", "response_url": f"http://127.0.0.1:9/{RESPONSE_URL_MARK}",
                          "trigger_id": "t.redis"})
        status, _, _ = post(server.url + "/slack/events", body, signed_headers(body))
        assert status == 200
        time.sleep(0.5)
    finally:
        server.stop()
        built.close()
    records = assert_clean(logs, allow_error_lines=True, allow_tracebacks=True)
    assert any(r["level"] == "error" for r in records)  # the failure was logged (and redacted)
