"""The HTTP receivers: what each sender gets back, and what is (not) recorded, queued and posted."""

from __future__ import annotations

import base64
import json
import time

import pytest

from tests.webhooks import payloads as p
from tests.webhooks.conftest import (
    ALARM_CHANNEL,
    EVENTBRIDGE_SECRET,
    TENCENT_SECRET,
    make_harness,
    make_settings,
)
from tests.webhooks.sns_signing import TOPIC


def post_sns(h, msg, *, header_type=None):
    headers = {"x-amz-sns-message-type": header_type or msg["Type"], "x-amz-sns-message-id": msg["MessageId"],
               "x-amz-sns-topic-arn": msg["TopicArn"], "Content-Type": "text/plain; charset=UTF-8",
               "User-Agent": "Amazon Simple Notification Service Agent"}
    resp = h.client.post("/webhooks/cloudwatch", data=json.dumps(msg), headers=headers)
    h.drain()  # the follow-up (Service, root message, job) runs after the answer
    return resp


def post_tencent(h, body, secret=TENCENT_SECRET, **kw):
    resp = h.client.post(f"/webhooks/tencent/{secret}", data=json.dumps(body), content_type="application/json", **kw)
    h.drain()
    return resp


def nothing_happened(h):
    assert h.incident_keys() == [] and h.rq_jobs() == [] and h.slack.calls_to("chat.postMessage") == []


# ---- SNS ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1", "2"])
def test_first_alarm_opens_one_incident_root_and_job(harness, signer, version):
    h = harness
    r = post_sns(h, signer.notification(p.cloudwatch_alb(), version=version))
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.get_json()["outcome"] == "opened"
    posts = h.slack.calls_to("chat.postMessage")
    assert len(posts) == 1 and posts[0].args["channel"] == ALARM_CHANNEL
    text = json.dumps(posts[0].args["blocks"])
    assert "shop-web-unhealthy" in text and "k8s-shop-web-6f3c1b2a9d" in text and "shop/web" in text
    jobs = h.rq_jobs()
    assert len(jobs) == 1
    payload = jobs[0].args[0]
    assert payload["origin"] == "alarm" and payload["namespace"] == "shop" and payload["service"] == "web"
    assert payload["root_ts"] and payload["channel"] == ALARM_CHANNEL
    assert payload["incident_key"] == "aws:" + p.tg_arn()
    assert payload["extra"]["options"]["aws_target_groups"] == [p.tg_arn()]


def test_repeats_and_retries_queue_nothing_and_update_the_counter(harness, signer):
    h = harness
    first = signer.notification(p.cloudwatch_alb())
    assert post_sns(h, first).status_code == 200
    for _ in range(3):
        assert post_sns(h, first).get_json()["outcome"] == "duplicate"  # SNS retries: same MessageId
    for i in range(4):
        r = post_sns(h, signer.notification(p.cloudwatch_alb(changed=f"2026-11-21T10:0{i + 1}:00.000+0000")))
        assert r.get_json()["outcome"] == "repeat"
    assert len(h.rq_jobs()) == 1 and len(h.slack.calls_to("chat.postMessage")) == 1
    updates = h.slack.wait_for("chat.update", count=1, timeout=5)
    time.sleep(0.5)
    last = h.slack.calls_to("chat.update")[-1]
    assert "fired 5 times" in json.dumps(last.args["blocks"])
    assert len(h.slack.calls_to("chat.update")) <= 2, updates  # coalesced, not one per delivery
    assert h.mapped["calls"] == 1


def test_recovery_posts_a_resolved_note_and_marks_the_root(harness, signer):
    h = harness
    post_sns(h, signer.notification(p.cloudwatch_alb()))
    root_ts = h.slack.calls_to("chat.postMessage")[0]
    r = post_sns(h, signer.notification(p.cloudwatch_alb("OK", changed="2026-11-21T10:20:00.000+0000")))
    assert r.get_json()["outcome"] == "resolved"
    notes = h.slack.wait_for("chat.postMessage", count=2, timeout=5)
    note = notes[1]
    assert note.args.get("thread_ts") and "Resolved" in note.args["text"]
    upd = h.slack.wait_for("chat.update", count=1, timeout=5)[-1]
    assert "Resolved" in upd.args["text"] and upd.args["ts"] == note.args["thread_ts"]
    assert root_ts.args["channel"] == upd.args["channel"]
    # a later ALARM (after the flap window) opens a new incident with its own root and job
    h.hooks.incidents.policy.flap_window = 0
    r = post_sns(h, signer.notification(p.cloudwatch_alb(changed="2026-11-21T11:00:00.000+0000")))
    assert r.get_json()["outcome"] == "opened"
    assert len([c for c in h.slack.calls_to("chat.postMessage") if not c.args.get("thread_ts")]) == 2


@pytest.mark.parametrize("case", ["wrong_host", "http", "not_pem", "tampered", "other_key", "stale", "header_mismatch", "no_signature"])
def test_forged_or_broken_sns_messages_change_nothing(harness, signer, case):
    h = harness
    msg = signer.notification(p.cloudwatch_alb())
    header = None
    if case == "wrong_host":
        msg = signer.sign({k: v for k, v in msg.items() if k != "Signature"}, cert_url="https://s3.amazonaws.com/SimpleNotificationService-1.pem")
    elif case == "http":
        msg = signer.sign({k: v for k, v in msg.items() if k != "Signature"}, cert_url="http://sns.eu-west-1.amazonaws.com/SimpleNotificationService-1.pem")
    elif case == "not_pem":
        msg = signer.sign({k: v for k, v in msg.items() if k != "Signature"}, cert_url="https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-1.crt")
    elif case == "tampered":
        alarm = p.cloudwatch_alb()
        alarm["AlarmName"] = "forged"
        msg["Message"] = json.dumps(alarm)
    elif case == "other_key":
        from tests.webhooks.sns_signing import Signer

        msg = Signer(key_size=1024).notification(p.cloudwatch_alb())
    elif case == "stale":
        from tests.webhooks.sns_signing import now_iso

        msg = signer.notification(p.cloudwatch_alb(), timestamp=now_iso(-2 * 3600))
    elif case == "header_mismatch":
        header = "SubscriptionConfirmation"
    elif case == "no_signature":
        msg.pop("Signature")
    r = post_sns(h, msg, header_type=header)
    assert r.status_code in (400, 403), r.get_data(as_text=True)
    assert r.status_code == (400 if case == "header_mismatch" else 403)
    nothing_happened(h)


def test_unknown_topic_is_refused(harness, signer):
    h = harness
    msg = signer.notification(p.cloudwatch_alb(), topic="arn:aws:sns:eu-west-1:999999999999:someone-else")
    r = post_sns(h, msg)
    assert r.status_code == 403 and "not allowed" in r.get_json()["error"]
    nothing_happened(h)
    conf = signer.confirmation(topic="arn:aws:sns:eu-west-1:999999999999:someone-else")
    assert post_sns(h, conf).status_code == 403
    assert h.confirmer.calls == []


def test_an_unknown_topic_is_refused_before_any_certificate_is_fetched(harness, signer):
    h = harness
    fetched_before = len(signer.source.fetches)
    msg = signer.notification(p.cloudwatch_alb(), topic="arn:aws:sns:eu-west-1:999999999999:flood")
    msg["SigningCertURL"] = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-ffffffffffff.pem"
    assert post_sns(h, msg).status_code == 403
    assert len(signer.source.fetches) == fetched_before


def test_no_allowed_topics_refuses_everything(redis_url, signer, slack_api):
    slack_api.reset()
    h = make_harness(redis_url, signer, slack_api, settings=make_settings(lbhealth_sns_topics=""))
    try:
        r = post_sns(h, signer.notification(p.cloudwatch_alb()))
        assert r.status_code == 403 and "empty" in r.get_json()["error"]
        nothing_happened(h)
    finally:
        h.hooks.desk.close()


def test_subscription_confirmation_for_an_allowed_topic_only_after_verification(harness, signer):
    h = harness
    conf = signer.confirmation()
    forged = dict(conf, Token="attacker-token")
    assert post_sns(h, forged).status_code == 403
    assert h.confirmer.calls == []
    r = post_sns(h, conf)
    assert r.status_code == 200 and r.get_json() == {"confirmed": TOPIC}
    assert h.confirmer.calls == [(TOPIC, conf["Token"], conf["SubscribeURL"])]
    h.confirmer.fail = True
    assert post_sns(h, signer.confirmation()).status_code == 503  # SNS retries confirmations
    unsub = signer.confirmation(kind="UnsubscribeConfirmation")
    assert post_sns(h, unsub).status_code == 200
    nothing_happened(h)


def test_the_default_confirmer_calls_confirm_subscription_with_topic_and_token(signer):
    from bot.webhooks.sns import ApiConfirmer

    calls = []

    class FakeSns:
        def confirm_subscription(self, **kw):
            calls.append(kw)

    ApiConfirmer(lambda region: FakeSns()).confirm(TOPIC, "tok", "https://evil.example/")
    assert calls == [{"TopicArn": TOPIC, "Token": "tok"}]


def test_without_aws_credentials_the_validated_subscribe_url_is_fetched_and_nothing_else():
    from botocore.exceptions import NoCredentialsError

    from bot.webhooks.sns import ApiConfirmer, SnsRejected, UrlConfirmer

    class NoCreds:
        def confirm_subscription(self, **kw):
            raise NoCredentialsError()

    fetched = []
    confirmer = ApiConfirmer(lambda region: NoCreds(), fallback=UrlConfirmer(fetch=fetched.append))
    good = f"https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=tok"
    confirmer.confirm(TOPIC, "tok", good)
    assert fetched == [good]
    with pytest.raises(SnsRejected):
        confirmer.confirm(TOPIC, "tok", "http://169.254.169.254/latest/meta-data/")
    assert fetched == [good]


def test_a_verified_message_that_is_not_an_elb_alarm_is_malformed(harness, signer):
    h = harness
    assert post_sns(h, signer.notification("Hello world!")).status_code == 400
    assert post_sns(h, signer.notification(p.cloudwatch_ec2())).status_code == 400
    nothing_happened(h)


def test_bodies_over_256_kb_and_non_json(harness, signer):
    h = harness
    big = signer.notification(p.cloudwatch_alb())
    big["Padding"] = "x" * (256 * 1024)
    r = h.client.post("/webhooks/cloudwatch", data=json.dumps(big), headers={"x-amz-sns-message-type": "Notification"})
    assert r.status_code == 413
    assert h.client.post("/webhooks/cloudwatch", data=b"{not json").status_code == 400
    assert post_tencent(h, {"x": "y" * (300 * 1024)}).status_code == 413
    nothing_happened(h)


def test_metric_math_and_nlb_alarms_open_separate_incidents(harness, signer):
    h = harness
    h.follow.mapper = lambda a: {"services": ["pay/api" if "pay" in a.name else "shop/web"], "cluster": None, "how": "tag", "lb": {}}
    assert post_sns(h, signer.notification(p.cloudwatch_metric_math())).get_json()["outcome"] == "opened"
    assert post_sns(h, signer.notification(p.cloudwatch_nlb())).get_json()["outcome"] == "opened"
    # the metric-math alarm is on the same target group as the ALB alarm: same incident
    assert post_sns(h, signer.notification(p.cloudwatch_alb())).get_json()["outcome"] == "repeat"
    assert len(h.rq_jobs()) == 2
    assert {j.args[0]["service"] for j in h.rq_jobs()} == {"web", "api"}


def test_an_alarm_for_a_service_already_being_diagnosed_joins_that_job(harness, signer):
    h = harness  # both alarms map to shop/web: one diagnosis at a time per Service (the queue's claim)
    post_sns(h, signer.notification(p.cloudwatch_alb()))
    r = post_sns(h, signer.notification(p.cloudwatch_nlb()))
    assert r.get_json()["outcome"] == "opened"
    assert len(h.rq_jobs()) == 1 and len(h.slack.calls_to("chat.postMessage")) == 2
    assert "already running" in json.dumps(h.slack.calls_to("chat.postMessage")[1].args["blocks"])


def test_redis_down_answers_503_so_the_sender_retries(signer, slack_api):
    from tests.fakes.redis_server import free_port

    slack_api.reset()
    h = make_harness(f"redis://127.0.0.1:{free_port()}/0", signer, slack_api)
    try:
        r = post_sns(h, signer.notification(p.cloudwatch_alb()))
        assert r.status_code == 503
        r = post_tencent(h, p.tencent_clb())
        assert r.status_code == 503 and r.get_json()["retCode"] != 0
        assert slack_api.calls_to("chat.postMessage") == []
    finally:
        h.hooks.desk.close()


# ---- EventBridge --------------------------------------------------------------------------------------


def test_eventbridge_needs_the_shared_secret(harness):
    h = harness
    ev = p.eventbridge()
    assert h.client.post("/webhooks/eventbridge", json=ev).status_code == 403
    assert h.client.post("/webhooks/eventbridge", json=ev, headers={"X-Lbhealth-Secret": "wrong"}).status_code == 403
    nothing_happened(h)
    r = h.client.post("/webhooks/eventbridge", json=ev, headers={"X-Lbhealth-Secret": EVENTBRIDGE_SECRET})
    assert r.status_code == 200 and r.get_json()["outcome"] == "opened"
    h.drain()
    r = h.client.post("/webhooks/cloudwatch", json=ev, headers={"X-Lbhealth-Secret": EVENTBRIDGE_SECRET})
    assert r.get_json()["outcome"] == "duplicate"  # same event id, on the other path
    assert len(h.rq_jobs()) == 1


# ---- Tencent ------------------------------------------------------------------------------------------


def test_tencent_callback(harness):
    h = harness
    assert post_tencent(h, p.tencent_clb(), secret="wrong").status_code == 403
    nothing_happened(h)
    r = post_tencent(h, p.tencent_clb())
    assert r.status_code == 200 and r.get_json() == {"sessionId": "tc-session-1", "retCode": 0}
    assert post_tencent(h, p.tencent_clb()).get_json() == {"sessionId": "tc-session-1", "retCode": 0}  # retry
    assert post_tencent(h, p.tencent_clb(session="tc-session-2")).status_code == 200
    assert len(h.rq_jobs()) == 1 and len(h.slack.calls_to("chat.postMessage")) == 1
    payload = h.rq_jobs()[0].args[0]
    assert payload["extra"]["options"]["tencent_lb"]["vip"] == p.CLB_VIP
    r = post_tencent(h, p.tencent_clb(status=0, session="tc-session-3"))
    assert r.status_code == 200
    h.slack.wait_for("chat.postMessage", count=2, timeout=5)
    bad = post_tencent(h, p.tencent_clb(status="7", session="tc-bad"))
    assert bad.status_code == 400 and bad.get_json()["sessionId"] == "tc-bad" and bad.get_json()["retCode"] != 0


def test_tencent_basic_auth(redis_url, signer, slack_api, tmp_path):
    cfg = tmp_path / "lbhealth.yaml"
    cfg.write_text("tencent_basic_auth: 'monitor:pa55'\n")
    slack_api.reset()
    h = make_harness(redis_url, signer, slack_api, settings=make_settings(lbhealth_config=cfg))
    try:
        assert post_tencent(h, p.tencent_clb()).status_code == 401
        bad = base64.b64encode(b"monitor:nope").decode()
        assert post_tencent(h, p.tencent_clb(), headers={"Authorization": f"Basic {bad}"}).status_code == 401
        nothing_happened(h)
        good = base64.b64encode(b"monitor:pa55").decode()
        assert post_tencent(h, p.tencent_clb(), headers={"Authorization": f"Basic {good}"}).status_code == 200
    finally:
        h.hooks.desk.close()


def test_unmapped_alarm_still_queues_a_cloud_side_diagnosis(redis_url, signer, slack_api):
    slack_api.reset()
    why = "target group k8s-shop-web-6f3c1b2a9d has no TargetGroupBinding in the cluster and no LBC tags"
    h = make_harness(redis_url, signer, slack_api, mapping={"services": [], "cluster": None, "how": "", "why": why, "lb": {}})
    try:
        assert post_sns(h, signer.notification(p.cloudwatch_alb())).status_code == 200
        payload = h.rq_jobs()[0].args[0]
        assert payload["extra"]["unmapped"] is True and payload["extra"]["mapping"]["why"] == why
        assert payload["extra"]["options"]["aws_target_groups"] == [p.tg_arn()]
        root = slack_api.calls_to("chat.postMessage")[0]
        assert "No Kubernetes Service found" in json.dumps(root.args["blocks"])
    finally:
        h.hooks.desk.close()


def test_routing_by_namespace_and_alarm_name(redis_url, signer, slack_api, tmp_path):
    cfg = tmp_path / "lbhealth.yaml"
    cfg.write_text(
        "alarm_routes:\n"
        "  - {channel: C0PAY, namespace: pay}\n"
        "  - {channel: C0SHOP, namespace: shop}\n"
        "  - {channel: C0NLB, alarm: 'pay-api-*'}\n"
    )
    slack_api.reset()
    h = make_harness(redis_url, signer, slack_api, settings=make_settings(lbhealth_config=cfg),
                     mapping={"services": ["shop/web"], "cluster": None, "how": "tag", "why": None, "lb": {}})
    try:
        post_sns(h, signer.notification(p.cloudwatch_alb()))
        assert slack_api.calls_to("chat.postMessage")[-1].args["channel"] == "C0SHOP"
        h.follow.mapper = lambda alarm: None
        post_sns(h, signer.notification(p.cloudwatch_nlb()))
        assert slack_api.calls_to("chat.postMessage")[-1].args["channel"] == "C0NLB"
    finally:
        h.hooks.desk.close()


def test_metrics_count_received_deduplicated_refused(harness, signer):
    from bot.metrics import REGISTRY

    def value(name, **labels):
        return REGISTRY.get_sample_value(name, labels) or 0

    before = (value("lbhealth_alarms_received_total", source="cloudwatch", outcome="opened"),
              value("lbhealth_alarms_deduplicated_total", source="cloudwatch"),
              value("lbhealth_alarms_refused_total", source="tencent", reason="forged"))
    msg = signer.notification(p.cloudwatch_alb())
    post_sns(harness, msg)
    post_sns(harness, msg)
    post_tencent(harness, p.tencent_clb(), secret="nope")
    after = (value("lbhealth_alarms_received_total", source="cloudwatch", outcome="opened"),
             value("lbhealth_alarms_deduplicated_total", source="cloudwatch"),
             value("lbhealth_alarms_refused_total", source="tencent", reason="forged"))
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 1]


# ---- the follow-up off the request path: lost, Slack down, retried ------------------------------------


def test_an_alarm_recorded_by_a_process_that_died_is_followed_up_by_the_sweeper(harness, signer):
    from bot.webhooks.alarms import parse_cloudwatch

    h = harness
    inc = h.hooks.incidents
    alarm = parse_cloudwatch(p.cloudwatch_alb(), message_id="lost-1")
    assert inc.record(alarm).need_enqueue  # recorded, answered 2xx, then the process died
    assert h.follow.sweep() == []  # too recent: the worker that took its wake-up may still be at it
    h.redis.delete("lbhealth:incidents:wake")  # ... and that worker died: only the record in `pending` is left
    h.follow.incidents.clock = lambda: time.time() + 60
    try:
        assert h.follow.sweep() == [alarm.incident_key]
        assert h.follow.wait()
    finally:
        h.follow.incidents.clock = time.time
    assert len(h.rq_jobs()) == 1 and len(h.slack.calls_to("chat.postMessage")) == 1
    assert h.redis.zcard("lbhealth:incidents:pending") == 0


def test_slack_down_queues_nothing_until_the_root_message_is_posted(harness, signer):
    h = harness
    h.slack.fail("chat.postMessage", error="fatal_error", times=1)
    r = post_sns(h, signer.notification(p.cloudwatch_alb()))
    assert r.status_code == 200  # recorded: SNS must not retry
    assert h.rq_jobs() == [] and h.redis.zcard("lbhealth:incidents:pending") == 1
    h.follow.incidents.clock = lambda: time.time() + 60
    try:
        h.follow.sweep()
        assert h.follow.wait()
    finally:
        h.follow.incidents.clock = time.time
    assert len(h.rq_jobs()) == 1
    roots = [c for c in h.slack.calls_to("chat.postMessage") if not c.args.get("thread_ts")]
    assert len(roots) == 2 and h.rq_jobs()[0].args[0]["root_ts"]  # one failed, one posted
    assert h.redis.zcard("lbhealth:incidents:pending") == 0


def test_root_renders_are_serialised_so_the_verdict_is_never_overwritten_by_an_older_render(harness, signer):
    import threading
    from types import SimpleNamespace

    from bot.incidents import update_alarm_root

    h = harness
    post_sns(h, signer.notification(p.cloudwatch_alb()))
    key = "aws:" + p.tg_arn()
    inc = h.hooks.incidents.get(key)
    verdict = {"status": "fail", "check_id": "AWS-TARGET-HEALTH", "summary": "2 of 2 targets unhealthy"}
    outcome = SimpleNamespace(job=SimpleNamespace(incident_key=key, channel=inc["channel"], root_ts=inc["root_ts"]),
                              redis=h.redis, client=h.hooks.desk.slack, ok=True, error=None,
                              report=SimpleNamespace(verdict=SimpleNamespace(to_dict=lambda: verdict)))
    before = len(h.slack.calls_to("chat.update"))
    with h.hooks.incidents.render_lock(key):  # a coalesced counter update is rendering right now
        t = threading.Thread(target=update_alarm_root, args=(outcome,))
        t.start()
        time.sleep(0.3)
        assert len(h.slack.calls_to("chat.update")) == before  # the worker waits for it
    t.join(5)
    last = h.slack.calls_to("chat.update")[-1]
    assert "AWS-TARGET-HEALTH" in json.dumps(last.args["blocks"])


def test_an_alarm_that_recovers_before_its_follow_up_gets_a_resolved_root_and_no_job(harness, signer):
    from bot.webhooks.alarms import parse_cloudwatch

    h = harness
    inc = h.hooks.incidents
    inc.record(parse_cloudwatch(p.cloudwatch_alb(), message_id="a"))  # recorded; the follow-up has not run yet
    inc.record(parse_cloudwatch(p.cloudwatch_alb("OK", changed="2026-11-21T10:00:05.000+0000"), message_id="b"))
    h.drain()
    roots = [c for c in h.slack.calls_to("chat.postMessage") if not c.args.get("thread_ts")]
    assert len(roots) == 1 and roots[0].args["text"].startswith("Resolved after")
    assert h.rq_jobs() == [] and h.redis.zcard("lbhealth:incidents:pending") == 0
