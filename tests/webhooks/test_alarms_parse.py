"""Alarm payloads (CloudWatch via SNS, EventBridge, Tencent Cloud Monitor) -> one Alarm."""

from __future__ import annotations

import json

import pytest

from bot.webhooks.alarms import AlarmRejected, parse_cloudwatch, parse_eventbridge, parse_tencent
from tests.webhooks import payloads as p


def test_alb_single_metric_alarm():
    a = parse_cloudwatch(json.dumps(p.cloudwatch_alb()), message_id="m-1")
    assert a.state == "ALARM" and a.name == "shop-web-unhealthy"
    assert a.region == "eu-west-1" and a.account == "123456789012"  # from AlarmArn, not "EU (Ireland)"
    assert a.target_groups == [p.tg_arn()]
    assert a.load_balancer == p.ALB_LB
    assert a.load_balancer_arn == f"arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/{p.ALB_LB}"
    assert a.metric == "UnHealthyHostCount" and a.namespace == "AWS/ApplicationELB"
    assert a.incident_key == "aws:" + p.tg_arn()
    assert a.changed_at and a.dedup_id == "m-1"
    assert a.lb_options() == {"aws_target_groups": [p.tg_arn()], "aws_region": "eu-west-1", "aws_load_balancer": a.load_balancer_arn}


def test_nlb_alarm_and_ok_state():
    a = parse_cloudwatch(json.dumps(p.cloudwatch_nlb("OK")), message_id="m-2")
    assert a.state == "OK" and a.namespace == "AWS/NetworkELB" and a.metric == "HealthyHostCount"
    assert a.target_groups == [p.tg_arn(p.NLB_TG)] and a.load_balancer == p.NLB_LB


def test_metric_math_alarm_reads_dimensions_of_every_metric():
    a = parse_cloudwatch(json.dumps(p.cloudwatch_metric_math()), message_id="m-3")
    assert a.target_groups == [p.tg_arn()] and a.metric == "UnHealthyHostCount"


def test_china_and_govcloud_partitions():
    alarm = p.cloudwatch_alb()
    alarm["AlarmArn"] = "arn:aws-cn:cloudwatch:cn-north-1:123456789012:alarm:x"
    a = parse_cloudwatch(alarm, message_id="m")
    assert a.target_groups == [f"arn:aws-cn:elasticloadbalancing:cn-north-1:123456789012:{p.ALB_TG}"]


@pytest.mark.parametrize("mutate, why", [
    (lambda a: a.update(Trigger={"MetricName": "CPUUtilization", "Namespace": "AWS/EC2", "Dimensions": [{"name": "InstanceId", "value": "i-1"}]}), "no TargetGroup"),
    (lambda a: a.update(NewStateValue="BROKEN"), "not ALARM"),
    (lambda a: (a.pop("AlarmArn"), a.pop("AWSAccountId")), "region and account"),
    (lambda a: a.pop("AlarmName"), "not a CloudWatch alarm"),
    (lambda a: a["Trigger"].update(Dimensions=[{"name": "TargetGroup", "value": "targetgroup/../../etc"}]), "no TargetGroup"),
])
def test_unusable_cloudwatch_messages_are_rejected(mutate, why):
    alarm = p.cloudwatch_alb()
    mutate(alarm)
    with pytest.raises(AlarmRejected, match=why):
        parse_cloudwatch(json.dumps(alarm), message_id="m")


def test_non_json_sns_message_is_rejected():
    with pytest.raises(AlarmRejected):
        parse_cloudwatch("Hello world!", message_id="m")


def test_eventbridge_event_dimensions_are_a_map():
    a = parse_eventbridge(p.eventbridge())
    assert a.source == "eventbridge" and a.state == "ALARM" and a.region == "eu-west-1"
    assert a.target_groups == [p.tg_arn()] and a.dedup_id == "c4c1c1c9-6542-e61b-6ef0-8c4d36933a92"
    assert a.incident_key == parse_cloudwatch(p.cloudwatch_alb(), message_id="x").incident_key  # same incident either way
    with pytest.raises(AlarmRejected):
        parse_eventbridge({**p.eventbridge(), "source": "my.app"})


# ---- Tencent: the documented dimension shapes, types that vary -----------------------------------


@pytest.mark.parametrize("dims, port, protocol", [
    ({"protocol": "https", "vip": "14.22.4.26", "port": "443", "objId": "14.22.4.26#443#https", "objName": "clbtestname | Default-VPC | x"}, 443, "https"),
    ({"protocol": "https", "vip": "118.25.31.161", "vport": 443, "objId": "118.25.31.161#443#https", "objName": "..."}, 443, "https"),
    ({"protocol": "https", "vip": "14.22.4.26", "vpcId": "vpc-1ywqac83", "vport": "443", "objId": "14.22.4.26#443#https"}, 443, "https"),
    ({"protocol": "https", "lanIp": "111.222.111.22", "port": "440", "vip": "14.12.13.25", "vpcId": "vpc-1ywqac83",
      "loadBalancerPort": "443", "objId": "14.12.13.25#443#https", "objName": "14.12.13.25#443#https"}, 443, "https"),
    ({"domain": "a.example", "unLoadBalancerId": "lb-abcdef12", "protocol": "http", "lanIp": "10.0.0.1", "port": 8080, "url": "/",
      "vip": "1.2.3.4", "vpcId": 123, "loadBalancerPort": 80}, 80, "http"),
    ({"objId": "14.22.4.26#8443#tcp"}, 8443, "tcp"),
])
def test_tencent_clb_dimension_shapes(dims, port, protocol):
    a = parse_tencent(p.tencent_clb(dims=dims))
    assert a.source == "tencent" and a.state == "ALARM" and a.region == "ap-guangzhou"
    assert a.port == port and a.protocol == protocol and a.vip
    assert a.incident_key.startswith("tencent:ap-guangzhou:")


def test_tencent_load_balancer_id_and_status_types():
    a = parse_tencent(p.tencent_clb(status=1, dims={"unLoadBalancerId": "lb-abcdef12", "vip": "1.2.3.4", "vport": "80", "protocol": "TCP"}))
    assert a.lb_id == "lb-abcdef12" and a.protocol == "tcp"
    assert a.incident_key == "tencent:ap-guangzhou:lb-abcdef12:80/tcp"
    assert parse_tencent(p.tencent_clb(status=0)).state == "OK"
    assert parse_tencent(p.tencent_clb(status="0")).state == "OK"
    assert parse_tencent(p.tencent_clb(status=1.0)).state == "ALARM"
    a = parse_tencent(p.tencent_clb())
    assert a.name == "clb-unhealthy-rs" and "Unhealthy real servers" in a.reason and a.dedup_id == "tc-session-1"
    assert a.lb_options()["tencent_lb"] == {"id": None, "vip": p.CLB_VIP, "port": 80, "protocol": "tcp", "region": "ap-guangzhou"}


@pytest.mark.parametrize("body, why", [
    ([], "JSON object"),
    ({"alarmStatus": "1"}, "sessionId"),
    (p.tencent_clb(status="2"), "neither 1"),
    (p.tencent_clb(status=None), "neither 1"),
    (p.tencent_clb(status=True), "neither 1"),
    (p.tencent_clb(dims={"unInstanceId": "ins-o9p3rg3m", "objId": "xxxx"}), "no CLB"),
    (p.tencent_clb(dims="not a dict"), "no CLB"),
])
def test_tencent_malformed(body, why):
    with pytest.raises(AlarmRejected, match=why):
        parse_tencent(body)


def test_tencent_event_alarm_with_vip_in_obj_detail():
    body = p.tencent_clb(dims={"unInstanceId": "lb-test1234", "objDetail": {"vip": "127.0.0.1"}})
    a = parse_tencent(body)
    assert a.lb_id == "lb-test1234" and a.vip == "127.0.0.1" and a.port is None


def test_each_parser_names_its_provider_and_alarms_stored_before_the_field_still_find_theirs():
    from bot.webhooks.alarms import Alarm

    aws = parse_cloudwatch(json.dumps(p.cloudwatch_alb()), message_id="m-p")
    tencent = parse_tencent(p.tencent_clb())
    assert (aws.provider, parse_eventbridge(p.eventbridge()).provider, tencent.provider) == ("aws", "aws", "tencent")
    assert tencent.incident_key == f"tencent:ap-guangzhou:{p.CLB_VIP}:80/tcp"
    assert tencent.lb_options() == {"tencent_lb": {"id": None, "vip": p.CLB_VIP, "port": 80, "protocol": "tcp",
                                                   "region": "ap-guangzhou"}, "tencent_region": "ap-guangzhou"}
    for alarm in (aws, tencent):  # an incident recorded by the previous release: no `provider` in Redis
        old = {k: v for k, v in alarm.to_dict().items() if k not in ("provider", "lb")}
        again = Alarm.from_dict(json.loads(json.dumps(old)))
        assert (again.provider, again.incident_key, again.subject) == (alarm.provider, alarm.incident_key, alarm.subject)
    with pytest.raises(AlarmRejected, match="no provider 'gce'"):
        _ = Alarm(source="x", state="ALARM", name="n", dedup_id="d", provider="gce").incident_key
