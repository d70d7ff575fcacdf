"""Alarm payloads in the shapes the senders document (see reference/protocols.md §2.3, §2.4, §3.1)."""

from __future__ import annotations

import copy
from typing import Any

REGION = "eu-west-1"
ACCOUNT = "123456789012"
ALB_TG = "targetgroup/k8s-shop-web-6f3c1b2a9d/73e2d6bc24d8a067"
ALB_LB = "app/k8s-shop-webingre-1a2b3c4d5e/50dc6c495c0c9188"
NLB_TG = "targetgroup/k8s-pay-api-0f1e2d3c4b/6d0ecf831eec9f09"
NLB_LB = "net/k8s-pay-api-0f1e2d3c4b/a1b2c3d4e5f60718"


def tg_arn(dim: str = ALB_TG, region: str = REGION, account: str = ACCOUNT) -> str:
    return f"arn:aws:elasticloadbalancing:{region}:{account}:{dim}"


def cloudwatch_alb(state: str = "ALARM", name: str = "shop-web-unhealthy", tg: str = ALB_TG, changed: str = "2026-11-21T10:00:00.000+0000") -> dict[str, Any]:
    """Single-metric alarm on an ALB target group (aws-lambda-go testdata shape; Region human-readable)."""
    return {
        "AlarmName": name,
        "AlarmDescription": "Targets of shop/web failing ALB health checks",
        "AWSAccountId": ACCOUNT,
        "AlarmConfigurationUpdatedTimestamp": "2026-11-01T09:00:00.000+0000",
        "NewStateValue": state,
        "NewStateReason": "Threshold Crossed: 1 out of the last 1 datapoints [2.0 (21/11/26 10:00:00)] was greater than or equal to the threshold (1.0) (minimum 1 datapoint for OK -> ALARM transition).",
        "StateChangeTime": changed,
        "Region": "EU (Ireland)",
        "AlarmArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}",
        "OldStateValue": "OK" if state == "ALARM" else "ALARM",
        "OKActions": [],
        "AlarmActions": [f"arn:aws:sns:{REGION}:{ACCOUNT}:lbhealth-alarms"],
        "InsufficientDataActions": [],
        "Trigger": {
            "MetricName": "UnHealthyHostCount",
            "Namespace": "AWS/ApplicationELB",
            "StatisticType": "Statistic",
            "Statistic": "MINIMUM",
            "Unit": None,
            "Dimensions": [{"value": tg, "name": "TargetGroup"}, {"value": ALB_LB, "name": "LoadBalancer"}],
            "Period": 60,
            "EvaluationPeriods": 1,
            "DatapointsToAlarm": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "Threshold": 1.0,
            "TreatMissingData": "missing",
            "EvaluateLowSampleCountPercentile": "",
        },
    }


def cloudwatch_nlb(state: str = "ALARM") -> dict[str, Any]:
    a = cloudwatch_alb(state, name="pay-api-healthy-hosts", tg=NLB_TG)
    a["Trigger"].update({"MetricName": "HealthyHostCount", "Namespace": "AWS/NetworkELB", "Statistic": "MAXIMUM",
                         "ComparisonOperator": "LessThanThreshold", "Threshold": 2.0,
                         "Dimensions": [{"name": "LoadBalancer", "value": NLB_LB}, {"name": "TargetGroup", "value": NLB_TG}]})
    return a


def cloudwatch_metric_math(state: str = "ALARM") -> dict[str, Any]:
    """Metric-math alarm: no top-level metric, Trigger.Metrics[] (aws-lambda-go multiple-metrics shape)."""
    a = cloudwatch_alb(state, name="shop-web-unhealthy-ratio")
    trig = a["Trigger"]
    for k in ("MetricName", "Namespace", "StatisticType", "Statistic", "Unit", "Dimensions", "Period"):
        trig.pop(k, None)
    dims = [{"value": ALB_TG, "name": "TargetGroup"}, {"value": ALB_LB, "name": "LoadBalancer"}]
    trig["Metrics"] = [
        {"Expression": "unhealthy / (healthy + unhealthy)", "Id": "ratio", "Label": "unhealthy ratio", "ReturnData": True},
        {"Id": "unhealthy", "MetricStat": {"Metric": {"Dimensions": copy.deepcopy(dims), "MetricName": "UnHealthyHostCount", "Namespace": "AWS/ApplicationELB"},
                                           "Period": 60, "Stat": "Minimum"}, "ReturnData": False},
        {"Id": "healthy", "MetricStat": {"Metric": {"Dimensions": copy.deepcopy(dims), "MetricName": "HealthyHostCount", "Namespace": "AWS/ApplicationELB"},
                                         "Period": 60, "Stat": "Minimum"}, "ReturnData": False},
    ]
    trig["Threshold"] = 0.5
    return a


def cloudwatch_ec2() -> dict[str, Any]:
    a = cloudwatch_alb()
    a["Trigger"].update({"MetricName": "CPUUtilization", "Namespace": "AWS/EC2", "Dimensions": [{"value": "i-0abc", "name": "InstanceId"}]})
    return a


def eventbridge(state: str = "ALARM", event_id: str = "c4c1c1c9-6542-e61b-6ef0-8c4d36933a92") -> dict[str, Any]:
    name = "shop-web-unhealthy"
    return {
        "version": "0", "id": event_id, "detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch",
        "account": ACCOUNT, "time": "2026-11-21T10:00:00Z", "region": REGION,
        "resources": [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}"],
        "detail": {
            "alarmName": name,
            "configuration": {"description": "unhealthy targets", "metrics": [{"id": "m1", "metricStat": {
                "metric": {"dimensions": {"TargetGroup": ALB_TG, "LoadBalancer": ALB_LB}, "name": "UnHealthyHostCount", "namespace": "AWS/ApplicationELB"},
                "period": 60, "stat": "Minimum"}, "returnData": True}]},
            "previousState": {"reason": "...", "timestamp": "2026-11-21T09:00:00.000+0000", "value": "OK"},
            "state": {"reason": "Threshold Crossed: 1 datapoint [2.0] >= 1.0", "reasonData": "{\"version\":\"1.0\"}",
                      "timestamp": "2026-11-21T10:00:00.989+0000", "value": state},
        },
    }


CLB_VIP = "127.0.0.80"


def tencent_clb(status: Any = "1", session: str = "tc-session-1", dims: dict[str, Any] | None = None, first: str = "2026-11-21 18:00:00") -> dict[str, Any]:
    """Cloud Monitor metric alarm on a CLB listener (public-listener dimension shape, vport an int)."""
    return {
        "sessionId": session,
        "alarmStatus": status,
        "alarmType": "metric",
        "alarmObjInfo": {
            "region": "gz",
            "namespace": "qce/lb_public",
            "appId": "1250000000",
            "uin": "100000000001",
            "dimensions": dims if dims is not None else {
                "protocol": "tcp", "vip": CLB_VIP, "vport": 80, "objId": f"{CLB_VIP}#80#tcp",
                "objName": "tke-shop-web | Default-VPC | 127.0.0.80(tcp:80) | tke-clusterId:cls-abc",
            },
        },
        "alarmPolicyInfo": {
            "policyId": "policy-n4exeh88", "policyType": "clb_public_listener", "policyName": "clb-unhealthy-rs",
            "policyTypeCName": "CLB - public listener",
            "conditions": {"metricName": "unhealthrscount", "metricShowName": "Unhealthy real servers", "calcType": ">", "calcValue": "0",
                           "calcUnit": "", "currentValue": "2", "historyValue": "0", "unit": "", "period": "60", "periodNum": "1",
                           "alarmNotifyType": "continuousAlarm", "alarmNotifyPeriod": 300},
        },
        "firstOccurTime": first,
        "durationTime": 500,
        "recoverTime": "0" if str(status) == "1" else "2026-11-21 18:20:00",
    }
