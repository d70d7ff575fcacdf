"""An incident's root message under a Slack stall: posted once (the follow-up looks for it before
posting again). The client timeout is 1 s instead of 15 s, so a 40 s stall becomes 2.7 s."""

from __future__ import annotations

from bot.incidents import Policy
from bot.slack.client import web_client
from tests.bot.conftest import wait_until
from tests.webhooks import payloads as p
from tests.webhooks.conftest import ALARM_CHANNEL, TENCENT_SECRET, make_harness

MAPPING = {"services": ["shop/web"], "cluster": None, "how": "annotation", "why": None, "lb": {}}


def test_a_slack_stall_while_posting_an_incident_root_gives_one_root(redis_url, signer, slack_api):
    slack_api.reset()
    h = make_harness(redis_url, signer, slack_api, mapping=MAPPING, slack=web_client("xoxb-test", slack_api.url, timeout=1),
                     policy=Policy(update_every=0.2, requeue_after=1.0), follow_started=True)
    try:
        slack_api.stall(40 / 15 * 1.01)
        resp = h.client.post(f"/webhooks/tencent/{TENCENT_SECRET}", json=p.tencent_clb())
        assert resp.status_code == 200 and resp.get_json()["retCode"] == 0
        wait_until(lambda: len(h.rq_jobs()) == 1, timeout=30)  # the sweeper followed the incident up again
        roots = slack_api.roots(ALARM_CHANNEL)
        assert len(roots) == 1
        assert roots[0]["metadata"]["event_payload"]["key"].startswith("incident:")
    finally:
        h.hooks.desk.close()
        h.follow.stop()
        h.redis.close()
