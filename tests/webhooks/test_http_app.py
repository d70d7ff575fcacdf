"""The receivers are mounted in the one web app of `lbhealth serve` (bot.app.build_app)."""

from __future__ import annotations

import json

import redis as redis_lib

from bot.app import alarm_follow_ups, build_app
from bot.slack.client import web_client
from tests.webhooks import payloads as p
from tests.webhooks.conftest import TENCENT_SECRET, make_settings
from tests.webhooks.sns_signing import TOPIC


def test_create_app_mounts_the_webhooks_and_exports_their_metrics(redis_url, signer, slack_api):
    slack_api.reset()
    settings = make_settings(redis_url=redis_url, slack_api_url=slack_api.url, lbhealth_sns_topics=TOPIC)
    r = redis_lib.Redis.from_url(redis_url)
    client = web_client("xoxb-test", slack_api.url)
    built = build_app(settings.model_copy(update={"slack_signing_secret": "s"}), redis=r, slack=client,
                      webhook_options={"cert_source": signer.source})
    app, hooks = built.flask, built.webhooks
    follow = alarm_follow_ups(settings, r, client, mapper=lambda alarm: None)  # what the workers run
    try:
        c = app.test_client()
        msg = signer.notification(p.cloudwatch_alb())
        resp = c.post("/webhooks/cloudwatch", data=json.dumps(msg), headers={"x-amz-sns-message-type": "Notification"})
        assert resp.status_code == 200 and resp.get_json()["outcome"] == "opened"
        assert c.post(f"/webhooks/tencent/{TENCENT_SECRET}", json=p.tencent_clb()).get_json()["retCode"] == 0
        assert follow.drain()
        assert len([x for x in slack_api.calls_to("chat.postMessage") if not x.args.get("thread_ts")]) == 2
        big = c.post("/webhooks/cloudwatch", data=b"x" * (300 * 1024))
        assert big.status_code == 413
        metrics = c.get("/metrics").get_data(as_text=True)
        assert 'lbhealth_alarms_received_total{outcome="opened",source="cloudwatch"}' in metrics
        assert "lbhealth_alarms_refused_total" in metrics and "lbhealth_alarms_deduplicated_total" in metrics
    finally:
        hooks.desk.close()
        follow.stop()
        r.close()
