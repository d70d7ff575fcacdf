"""Alarm-derived names are validated like commands before they become Targets, Redis keys or Slack text
(issue 9 items 1 and 5): a Tencent `vip`, `protocol` or region, a CloudWatch region or account, a
delivery id, a Service named by cloud data."""

from __future__ import annotations

import json

import pytest

from bot.webhooks.alarms import AlarmRejected, parse_cloudwatch, parse_eventbridge, parse_tencent
from bot.webhooks.jobs import alarm_job, prepare_alarm_job
from tests.bot.hostile import PROBE_PATH, assert_inert, carried
from tests.webhooks import payloads as p
from tests.webhooks.test_routes import post_tencent

EVIL = "<!channel>`x`\n"


def tencent(**dims):
    base = {"protocol": "tcp", "vip": p.CLB_VIP, "vport": 80, "loadBalancerId": "lb-abcdef12"}
    return p.tencent_clb(dims={**base, **dims})


@pytest.mark.parametrize("vip", ["1:" + EVIL, "::" + EVIL, "127.0.0.1\n", "999.1.1.1", "x" * 300])
def test_a_tencent_vip_must_be_an_ip_address(vip):
    assert parse_tencent(tencent(vip=vip, objId="")).vip in (None, "127.0.0.1")


def test_tencent_protocol_region_and_vpc_are_checked():
    payload = tencent(protocol=EVIL, vpcId="vpc-1\n<!here>")
    payload["alarmObjInfo"]["region"] = "<!here>"
    alarm = parse_tencent(payload)
    assert alarm.protocol is None and alarm.region is None and alarm.vpc_id is None
    assert parse_tencent(tencent(protocol="HTTPS")).protocol == "https"
    payload = tencent()
    payload["alarmPolicyInfo"]["policyName"] = "x\n" * 500
    assert "\n" not in parse_tencent(payload).name and len(parse_tencent(payload).name) <= 255


@pytest.mark.parametrize("session", ["a\nb", "x" * 200, "tab\there"])
def test_a_delivery_id_that_is_not_a_plain_id_is_refused(session):
    with pytest.raises(AlarmRejected):
        parse_tencent(p.tencent_clb(session=session))
    with pytest.raises(AlarmRejected):
        parse_cloudwatch(json.dumps(p.cloudwatch_alb()), message_id=session)


def test_cloudwatch_region_and_account_come_only_from_valid_arns():
    alarm = p.cloudwatch_alb()
    alarm["AlarmArn"] = alarm["AlarmArn"].replace("eu-west-1", "eu-west-1\n")
    alarm["AWSAccountId"] = "123456789012\n"
    with pytest.raises(AlarmRejected, match="region and account"):
        parse_cloudwatch(json.dumps(alarm), message_id="m1", topic_arn="arn:aws:sns:<evil>:1:t")
    alarm["AlarmName"] = "a\nb"
    ok = parse_cloudwatch(json.dumps(alarm), message_id="m1", topic_arn="arn:aws:sns:eu-west-1:123456789012:t")
    assert ok.region == "eu-west-1" and ok.account == "123456789012" and ok.name == "a b"


def test_eventbridge_region_must_be_a_region():
    event = {"detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch", "id": "e1",
             "region": "<!channel>", "account": "123456789012", "detail": {}}
    with pytest.raises(AlarmRejected, match="region/account"):
        parse_eventbridge(event)


class _Outcome:
    incident_id, job_seq = "inc1", 1


@pytest.mark.parametrize("services", [["shop\n/web"], ["Shop/web"], [f"shop/{PROBE_PATH}"], ["noslash"], [7]])
def test_a_service_named_by_cloud_data_becomes_a_target_only_if_kubernetes_would_accept_it(services):
    alarm = parse_tencent(tencent())
    job = alarm_job(alarm, _Outcome(), channel="C1", root_ts="1.2", mapping={"services": services, "cluster": None})
    assert job.extra["unmapped"] and job.namespace == "-"
    assert "no valid Service" in job.extra["mapping"]["why"]
    target, _ = prepare_alarm_job(job, None)
    assert target.namespace == "-" and "\n" not in target.service and "<" not in target.service


def test_valid_services_are_kept_and_invalid_others_dropped():
    alarm = parse_tencent(tencent())
    job = alarm_job(alarm, _Outcome(), channel="C1", root_ts="1.2",
                    mapping={"services": ["shop/web", "shop\n/bad", "pay/api"], "cluster": None})
    assert (job.namespace, job.service) == ("shop", "web") and job.extra["other_services"] == ["pay/api"]


def test_a_hostile_tencent_callback_reaches_slack_inert(harness):
    payload = tencent(protocol=EVIL, vip="1:" + EVIL)
    payload["alarmPolicyInfo"]["policyName"] = PROBE_PATH
    payload["alarmPolicyInfo"]["conditions"]["metricShowName"] = EVIL
    assert post_tencent(harness, payload).status_code == 200
    harness.drain()
    posts = harness.slack.calls_to("chat.postMessage")
    assert posts
    messages = []
    for call in posts:
        blocks = call.args.get("blocks")
        messages.append({"text": call.args.get("text"), "blocks": json.loads(blocks) if isinstance(blocks, str) else blocks})
    for message in messages:
        assert_inert(message)
    assert carried(messages, "/healthz&lt;!channel&gt;")
