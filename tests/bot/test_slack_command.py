"""`/lbhealth` over real HTTP into the running web app: signed requests, ack, root, thread, dedup."""

from __future__ import annotations

import json
import time

from bot.queue import get_queue
from tests.bot.conftest import command_body, get, post, run_jobs, signed_headers, validate_message, wait_until


def send(web, slack_api, text: str, **kw) -> tuple[int, bytes, dict]:
    body = command_body(text, response_url=kw.pop("response_url", None) or slack_api.response_url(), **kw)
    return post(web.url + "/slack/events", body, signed_headers(body))


def queued(redis) -> int:
    return get_queue(redis).count


def test_command_end_to_end_root_thread_and_update(web, slack_api, redis):
    status, body, _ = send(web, slack_api, "shop/web")
    assert status == 200 and body == b""  # acknowledged, nothing shown yet
    (root_call,) = slack_api.wait_for("chat.postMessage")
    root = root_call.args
    assert root["channel"] == "C111" and "thread_ts" not in root
    assert root["text"] == "Diagnosing shop/web on prod, asked by <@U111>"
    validate_message(root)
    wait_until(lambda: queued(redis) == 1)

    assert run_jobs(redis)
    root_ts = slack_api.calls_to("chat.postMessage")[0].args and next(
        ts for (ch, ts), m in slack_api.messages.items() if ch == "C111" and "thread_ts" not in m)
    replies = slack_api.thread("C111", root_ts)
    assert replies, "the report goes into the root's thread"
    assert replies[0]["text"].startswith("Root cause: ")
    assert "targetPort 8080" in replies[0]["text"]
    for call in slack_api.calls_to("chat.postMessage"):
        validate_message(call.args)
    all_text = json.dumps([r["blocks"] for r in replies])
    assert "Suggested fix" in all_text and "kubectl patch svc web -n shop" in all_text
    assert "Passed (" in all_text and "Skipped (" in all_text

    (update,) = slack_api.calls_to("chat.update")
    assert update.args["ts"] == root_ts and update.args["channel"] == "C111"
    validate_message(update.args)
    section = update.args["blocks"][0]["text"]["text"]
    assert section.startswith(":red_circle: *shop/web* on *prod*: ") and "`K8S-TARGETPORT`" in section
    assert "Diagnosed in " in update.args["blocks"][1]["elements"][0]["text"]
    assert get_queue(redis).count == 0


def test_help_and_bad_text_answer_in_the_ack_and_queue_nothing(web, slack_api, redis):
    for text, expect in [("", None), ("help", None), ("Shop/Web", "not a valid namespace"),
                         ("shop/web_1", "not a valid Service name"), ("web -x", "unknown option"),
                         ("a b", "one Service at a time"), ("web --cluster nope", "`nope` is not a cluster that can be diagnosed from this channel"),
                         ("-n shop", "no Service name")]:
        status, body, headers = send(web, slack_api, text, trigger_id=f"t-{text}")
        assert status == 200, text
        message = json.loads(body)
        validate_message(message)
        blob = json.dumps(message)
        assert "/lbhealth [namespace/]service" in blob and "/lbhealth shop/web" in blob
        if expect:
            assert expect in blob, (text, blob)
        assert message.get("response_type", "ephemeral") == "ephemeral"
    time.sleep(0.3)  # lazy listeners have run by now; they must not have done anything
    assert slack_api.calls_to("chat.postMessage") == []
    assert queued(redis) == 0


def test_bad_signature_and_stale_timestamp_are_401_and_queue_nothing(web, slack_api, redis):
    body = command_body("shop/web", response_url=slack_api.response_url())
    bad = signed_headers(body, secret="not-the-secret")
    assert post(web.url + "/slack/events", body, bad)[0] == 401
    stale = signed_headers(body, timestamp=int(time.time()) - 10 * 60)
    assert post(web.url + "/slack/events", body, stale)[0] == 401
    unsigned = {"Content-Type": "application/x-www-form-urlencoded"}
    assert post(web.url + "/slack/events", body, unsigned)[0] == 401
    time.sleep(0.3)
    assert slack_api.calls == [] and queued(redis) == 0


def test_large_body_is_refused_before_parsing(web, slack_api, redis):
    body = command_body("shop/web " + "x" * 70_000, response_url=slack_api.response_url())
    status, _, _ = post(web.url + "/slack/events", body, signed_headers(body))
    assert status == 413
    assert slack_api.calls == [] and queued(redis) == 0


def test_slack_retry_of_the_same_command_creates_no_second_job(web, slack_api, redis):
    body = command_body("shop/web", response_url=slack_api.response_url(), trigger_id="999.1.retry")
    assert post(web.url + "/slack/events", body, signed_headers(body))[0] == 200
    retry_headers = {**signed_headers(body), "X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    assert post(web.url + "/slack/events", body, retry_headers)[0] == 200
    slack_api.wait_for("chat.postMessage")
    wait_until(lambda: queued(redis) == 1)
    time.sleep(0.3)
    assert len(slack_api.calls_to("chat.postMessage")) == 1
    assert slack_api.calls_to("response_url") == []  # the retry is silent, not "already running"
    assert queued(redis) == 1


def test_second_request_for_the_same_target_links_the_running_thread(web, slack_api, redis):
    assert send(web, slack_api, "shop/web", trigger_id="1.a")[0] == 200
    slack_api.wait_for("chat.postMessage")
    wait_until(lambda: queued(redis) == 1)
    second_url = slack_api.response_url()
    assert send(web, slack_api, "web -n shop", trigger_id="1.b", user="U222", response_url=second_url)[0] == 200
    (reply,) = slack_api.wait_for("response_url")
    assert reply.path == second_url.split(slack_api.root, 1)[1]
    validate_message(reply.args)
    text = reply.args["blocks"][0]["text"]["text"]
    assert "already queued" in text and "https://lbhealth-test.slack.com/archives/C111/p" in text
    assert reply.args["response_type"] == "ephemeral"
    assert len(slack_api.calls_to("chat.postMessage")) == 1 and queued(redis) == 1
    # Another cluster is another target.
    assert send(web, slack_api, "shop/web --cluster staging", trigger_id="1.c")[0] == 200
    wait_until(lambda: queued(redis) == 2)
    # Once the report is posted the target is free again.
    run_jobs(redis)
    assert send(web, slack_api, "shop/web", trigger_id="1.d")[0] == 200
    wait_until(lambda: queued(redis) == 1)


def test_bot_not_in_channel_gets_an_invite_hint_and_nothing_queued(web, slack_api, redis):
    slack_api.fail("chat.postMessage", error="not_in_channel", channel="C999")
    assert send(web, slack_api, "shop/web", channel="C999", trigger_id="2.a")[0] == 200
    (reply,) = slack_api.wait_for("response_url")
    validate_message(reply.args)
    assert "/invite @lbhealth" in reply.args["blocks"][0]["text"]["text"]
    assert queued(redis) == 0
    # After the invite, the same target can be asked for at once (the claim was released).
    assert send(web, slack_api, "shop/web", channel="C999", trigger_id="2.b")[0] == 200
    wait_until(lambda: queued(redis) == 1)


def test_channel_not_found_falls_back_to_post_ephemeral_without_response_url(settings, redis, slack_api, intake):
    from slack_bolt import BoltRequest

    from bot.app import build_app

    app = build_app(settings, redis=redis).bolt
    slack_api.fail("chat.postMessage", error="channel_not_found")
    body = command_body("shop/web", response_url="", trigger_id="3.a")
    resp = app.dispatch(BoltRequest(body=body, headers=signed_headers(body)))
    assert resp.status == 200
    (eph,) = slack_api.wait_for("chat.postEphemeral")
    assert eph.args["user"] == "U111" and "/invite @lbhealth" in json.dumps(eph.args["blocks"])


def test_health_ready_and_metrics(web, slack_api, redis):
    assert get(web.url + "/healthz") == (200, b"ok\n")
    assert get(web.url + "/readyz")[0] == 200
    send(web, slack_api, "shop/web", trigger_id="4.a")
    send(web, slack_api, "nope!", trigger_id="4.b")
    wait_until(lambda: queued(redis) == 1)
    status, text = get(web.url + "/metrics")
    assert status == 200
    text = text.decode()
    assert 'lbhealth_commands_total{outcome="queued"}' in text
    assert 'lbhealth_commands_total{outcome="bad_input"}' in text
    assert 'lbhealth_jobs_queued_total{origin="command"}' in text
    assert 'lbhealth_jobs{state="queued"} 1.0' in text
    assert "lbhealth_job_duration_seconds_bucket" in text
    assert "lbhealth_slack_api_errors_total" in text


def test_readyz_fails_when_redis_is_unreachable(settings, slack_api):
    import redis as redis_lib

    from bot.app import build_app
    from tests.bot.conftest import Server
    from tests.fakes.redis_server import free_port

    dead = redis_lib.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    server = Server(build_app(settings, redis=dead).flask)
    try:
        assert get(server.url + "/readyz")[0] == 503
        assert get(server.url + "/healthz")[0] == 200
    finally:
        server.stop()


def test_accepted_commands_survive_a_dead_intake_consumer(settings, redis, slack_api, worker_deps):
    """A consumer that died mid-command left it in its processing list: a live one hands it back."""
    from bot.slack import intake as intake_mod
    from bot.slack.intake import IntakeConsumer
    from bot.slack.starter import CommandStarter

    body = {"team_id": "T1", "channel_id": "C111", "user_id": "U111", "command": "/lbhealth", "text": "shop/web",
            "trigger_id": "6.a", "response_url": slack_api.response_url()}
    intake_mod.submit(redis, body)
    starter = CommandStarter(settings, redis, worker_deps.client)
    dead = IntakeConsumer(settings, redis, starter, name="intake-dead")
    assert redis.blmove(intake_mod.INTAKE, dead.processing, 1, "LEFT", "RIGHT")  # took it, then "died"
    live = IntakeConsumer(settings, redis, starter, name="intake-live")
    assert live.recover() == 1
    assert live.drain() == 1
    (root,) = slack_api.wait_for("chat.postMessage")
    assert root.args["text"].startswith("Diagnosing shop/web on prod")
    assert get_queue(redis).count == 1
    # handled twice (e.g. the dead one had posted before dying): still one root, one job
    intake_mod.submit(redis, body)
    assert live.drain() == 1
    assert len(slack_api.calls_to("chat.postMessage")) == 1 and get_queue(redis).count == 1


def test_slack_outage_while_starting_is_retried_not_lost(web, slack_api, redis):
    slack_api.fail("chat.postMessage", status=500, error="internal_error", times=3)  # three attempts of the intake
    assert send(web, slack_api, "shop/web", trigger_id="7.a")[0] == 200
    wait_until(lambda: queued(redis) == 1, timeout=15)  # the intake tried again
    roots = [c for c in slack_api.calls_to("chat.postMessage") if c.response and c.response.get("ok")]
    assert len(roots) == 1
    assert slack_api.calls_to("response_url") == []


def test_chunked_requests_go_through_flask_and_are_bounded(web, slack_api, redis):
    import http.client

    def chunked(body: bytes, headers: dict[str, str]) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", int(web.url.rsplit(":", 1)[1]), timeout=10)
        conn.request("POST", "/slack/events", body=iter([body[:10], body[10:]]), headers=headers,
                     encode_chunked=True)
        status = conn.getresponse().status
        conn.close()
        return status

    body = command_body("shop/web", response_url=slack_api.response_url(), trigger_id="8.a")
    assert chunked(body.encode(), signed_headers(body)) == 200
    wait_until(lambda: queued(redis) == 1)
    big = command_body("shop/web " + "x" * 70_000, response_url=slack_api.response_url(), trigger_id="8.b")
    assert chunked(big.encode(), signed_headers(big)) == 413


def test_slack_api_errors_are_counted(web, slack_api, redis):
    slack_api.fail("chat.postMessage", error="not_in_channel", channel="C998")
    send(web, slack_api, "shop/web", channel="C998", trigger_id="9.a")
    slack_api.wait_for("response_url")
    _, text = get(web.url + "/metrics")
    assert 'lbhealth_slack_api_errors_total{error="not_in_channel",method="chat_postMessage"}' in text.decode()
    assert 'lbhealth_commands_total{outcome="cannot_post"}' in text.decode()


def test_a_live_consumer_hands_back_a_command_a_redis_failure_left_in_its_hands(settings, redis, slack_api, worker_deps):
    """Redis went away while a thread handled the command (neither its retry nor the LREM were written):
    once no thread holds it, the consumer itself puts it back and it starts."""
    from bot.slack import intake as intake_mod
    from bot.slack.intake import IntakeConsumer
    from bot.slack.starter import CommandStarter

    body = {"team_id": "T1", "channel_id": "C111", "user_id": "U111", "command": "/lbhealth", "text": "shop/web",
            "trigger_id": "8.a", "response_url": slack_api.response_url()}
    consumer = IntakeConsumer(settings, redis, CommandStarter(settings, redis, worker_deps.client), name="intake-live")
    intake_mod.submit(redis, body)
    assert redis.blmove(intake_mod.INTAKE, consumer.processing, 1, "LEFT", "RIGHT")  # the interrupted thread
    assert consumer.hand_back_own() == 0  # first look: maybe a thread just took it
    assert consumer.hand_back_own() == 1  # second look: nobody holds it
    assert consumer.drain() == 1
    assert get_queue(redis).count == 1 and len(slack_api.calls_to("chat.postMessage")) == 1


def test_a_command_resumed_after_a_failover_lost_its_writes_posts_its_root_once(settings, redis, slack_api, worker_deps):
    """The failover's new primary holds the command in a processing list and nothing the interrupted
    attempt wrote after taking it (async replication lost it): no claim, no job, no record. The
    handed-back item finds the root message that attempt posted, and queues the one job under it."""
    from bot.slack import intake as intake_mod
    from bot.slack.intake import IntakeConsumer
    from bot.slack.starter import CommandStarter

    body = {"team_id": "T1", "channel_id": "C111", "user_id": "U111", "command": "/lbhealth", "text": "shop/web",
            "trigger_id": "8.b", "response_url": slack_api.response_url()}
    starter = CommandStarter(settings, redis, worker_deps.client)
    dead = IntakeConsumer(settings, redis, starter, name="intake-cut-off")
    intake_mod.submit(redis, body)
    raw = redis.blmove(intake_mod.INTAKE, dead.processing, 1, "LEFT", "RIGHT")
    item = json.loads(raw)
    starter.process(item["body"], attempt=0, item_id=item["id"])  # root posted, job queued ...
    (first,) = slack_api.calls_to("chat.postMessage")
    redis.flushdb()  # ... and none of it replicated: the new primary has only the taken item
    redis.rpush(dead.processing, raw)

    live = IntakeConsumer(settings, redis, starter, name="intake-live")
    assert live.recover() == 1
    assert json.loads(redis.lindex(intake_mod.INTAKE, 0))["attempts"] == 1  # the interrupted attempt counts
    assert live.drain() == 1
    assert slack_api.calls_to("conversations.history"), "the resumed attempt looked for its root first"
    assert len(slack_api.calls_to("chat.postMessage")) == 1
    assert get_queue(redis).count == 1
    (job,) = get_queue(redis).get_jobs()
    assert job.id == item["id"] and job.args[0]["root_ts"] == first.response["ts"]
