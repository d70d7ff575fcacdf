"""The whole path: a signed SNS alarm / a Tencent callback -> the webhook -> mapping -> root message ->
job in Redis -> the worker (in-process) -> the report in the incident thread -> the root updated; repeats
add nothing; recovery is posted. Clusters are offline (the example dumps), Slack is the fake Web API."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import redis as redis_lib
from flask import Flask

from bot.incidents import Policy
from tests.webhooks import payloads as p
from tests.webhooks.conftest import make_settings

ROOT = Path(__file__).resolve().parents[2]
AWS_ACCOUNT, AWS_REGION = "111122223333", "us-east-1"
TOPIC = f"arn:aws:sns:{AWS_REGION}:{AWS_ACCOUNT}:lbhealth-alarms"
TG_DIM = "targetgroup/k8s-shop-checkou-9a8b7c6d5e/4e3d2c1b0a998877"
TG_ARN = f"arn:aws:elasticloadbalancing:{AWS_REGION}:{AWS_ACCOUNT}:{TG_DIM}"


@pytest.fixture
def world(tmp_path, redis_url, signer, slack_api):
    aws_dir = tmp_path / "aws"
    shutil.copytree(ROOT / "examples" / "alb-healthcheck-path", aws_dir)
    # what `aws elbv2 describe-tags` prints for the target group the controller made for Ingress shop/checkout
    (aws_dir / "aws-elbv2-describe-tags.json").write_text(json.dumps({"TagDescriptions": [{"ResourceArn": TG_ARN, "Tags": [
        {"Key": "elbv2.k8s.aws/cluster", "Value": "prod"}, {"Key": "ingress.k8s.aws/stack", "Value": "shop/checkout"},
        {"Key": "ingress.k8s.aws/resource", "Value": "shop/checkout-checkout:80"}]}]}))
    cfg = tmp_path / "lbhealth.yaml"
    cfg.write_text(
        "clusters:\n"
        f"  - {{name: prod-eks, cloud: aws, region: {AWS_REGION}, sources: ['{aws_dir}'], probe: false}}\n"
        f"  - {{name: prod-tke, cloud: tencent, region: ap-guangzhou, sources: ['{ROOT / 'examples' / 'tke-direct-access-crashloop'}'], probe: false}}\n"
        "alarm_routes:\n"
        "  - {channel: C0SHOP, namespace: shop}\n"
        "  - {channel: C0MALL, cluster: prod-tke}\n"
        "alarm_channel: C0ALARMS\n"
    )
    settings = make_settings(lbhealth_config=cfg, lbhealth_sns_topics=TOPIC, redis_url=redis_url, slack_api_url=slack_api.url)
    from bot import job_runtime
    from bot.app import alarm_follow_ups, worker_deps
    from bot.slack.client import web_client
    from bot.webhooks.routes import register

    slack_api.reset()
    r = redis_lib.Redis.from_url(redis_url)
    client = web_client("xoxb-test", slack_api.url)
    job_runtime.configure(worker_deps(settings, redis=r, client=client))
    app = Flask("e2e")
    policy = Policy(update_every=0.2)
    hooks = register(app, {"settings": settings, "redis": r, "slack": client, "cert_source": signer.source, "policy": policy})
    app.extensions["follow_ups"] = alarm_follow_ups(settings, r, client, policy=policy)  # a worker's, with its Mapper
    yield app.test_client(), r, slack_api, hooks
    hooks.desk.close()
    app.extensions["follow_ups"].stop()
    job_runtime.configure(None)
    r.close()


def run_jobs(r) -> None:
    from bot.worker_process import make_worker

    make_worker(r).work(burst=True, logging_level="WARNING")


def alarm(state="ALARM", changed="2026-11-21T10:00:00.000+0000"):
    a = p.cloudwatch_alb(state, name="shop-checkout-unhealthy", tg=TG_DIM, changed=changed)
    a["AWSAccountId"] = AWS_ACCOUNT
    a["AlarmArn"] = f"arn:aws:cloudwatch:{AWS_REGION}:{AWS_ACCOUNT}:alarm:shop-checkout-unhealthy"
    a["Trigger"]["Dimensions"] = [{"name": "TargetGroup", "value": TG_DIM}]
    return a


def sns(client, msg):
    resp = client.post("/webhooks/cloudwatch", data=json.dumps(msg), headers={"x-amz-sns-message-type": msg["Type"]})
    assert client.application.extensions["follow_ups"].drain()  # a worker follows the recorded alarm up
    return resp


def tencent(client, body):
    resp = client.post("/webhooks/tencent/t0p-s3cret-path-token", json=body)
    assert client.application.extensions["follow_ups"].drain()
    return resp


def updates_for(slack, ts):
    return [c for c in slack.calls_to("chat.update") if c.args["ts"] == ts]


def roots(slack):
    return [c for c in slack.calls_to("chat.postMessage") if not c.args.get("thread_ts")]


def test_cloudwatch_alarm_for_an_lbc_target_group_gets_one_threaded_diagnosis(world, signer):
    client, r, slack, hooks = world
    first = signer.notification(alarm(), topic=TOPIC)
    resp = sns(client, first)
    assert resp.status_code == 200 and resp.get_json()["outcome"] == "opened"
    [root] = roots(slack)
    assert root.args["channel"] == "C0SHOP"  # routed by the mapped namespace
    assert "shop/checkout" in json.dumps(root.args["blocks"]) and "ingress.k8s.aws/resource" in json.dumps(root.args["blocks"])
    root_ts = slack.messages and next(ts for (ch, ts), m in slack.messages.items() if ch == "C0SHOP")

    for i in range(5):  # SNS retries and repeats while the diagnosis is queued
        sns(client, first)
        sns(client, signer.notification(alarm(changed=f"2026-11-21T10:0{i + 1}:00.000+0000"), topic=TOPIC))
    run_jobs(r)

    thread = [c for c in slack.calls_to("chat.postMessage") if c.args.get("thread_ts") == root_ts]
    assert thread, "the report is posted in the incident thread"
    assert "healthcheck" in json.dumps([c.args for c in thread]).lower() or "AWS-" in json.dumps([c.args for c in thread])
    assert len(roots(slack)) == 1
    updates = [c for c in slack.calls_to("chat.update") if c.args["ts"] == root_ts]
    assert updates and "Details in the thread" in json.dumps(updates[-1].args["blocks"])
    assert re.search(r"\*(AWS|K8S|PROBE)-[A-Z0-9-]+\*: ", json.dumps(updates[-1].args["blocks"])), "the verdict is on the root"

    resp = sns(client, signer.notification(alarm("OK", changed="2026-11-21T10:30:00.000+0000"), topic=TOPIC))
    assert resp.get_json()["outcome"] == "resolved"
    slack.wait_for("chat.postMessage", where=lambda c: c.args.get("thread_ts") == root_ts and "Resolved" in c.args.get("text", ""), timeout=5)
    run_jobs(r)
    assert len(roots(slack)) == 1
    from bot.queue import queue_counts

    assert queue_counts(r)["queued"] == 0


def test_tencent_clb_alarm_on_a_tke_service(world):
    client, r, slack, hooks = world
    body = p.tencent_clb(dims={"protocol": "tcp", "vip": "10.0.0.38", "vport": 80, "vpcId": "vpc-1", "objId": "10.0.0.38#80#tcp"})
    resp = tencent(client, body)
    assert resp.status_code == 200 and resp.get_json() == {"sessionId": "tc-session-1", "retCode": 0}
    [root] = roots(slack)
    assert root.args["channel"] == "C0MALL" and "mall/order" in json.dumps(root.args["blocks"])
    tencent(client, p.tencent_clb(session="tc-2", dims=body["alarmObjInfo"]["dimensions"]))
    run_jobs(r)
    root_ts = next(ts for (ch, ts), m in slack.messages.items() if ch == "C0MALL")
    thread = [c for c in slack.calls_to("chat.postMessage") if c.args.get("thread_ts") == root_ts]
    assert thread and len(roots(slack)) == 1
    resp = client.post("/webhooks/tencent/t0p-s3cret-path-token",
                       json=p.tencent_clb(status=0, session="tc-3", dims=body["alarmObjInfo"]["dimensions"]))
    assert resp.get_json()["retCode"] == 0
    slack.wait_for("chat.postMessage", where=lambda c: c.args.get("thread_ts") == root_ts and "Resolved" in c.args.get("text", ""), timeout=5)


def test_an_alarm_whose_target_group_maps_to_no_service_is_still_diagnosed_on_the_cloud_side(world, signer, tmp_path):
    client, r, slack, hooks = world
    (tmp_path / "aws" / "aws-elbv2-describe-tags.json").unlink()  # no tags, no TargetGroupBinding: no Service
    assert sns(client, signer.notification(alarm(), topic=TOPIC)).status_code == 200
    [root] = roots(slack)
    assert root.args["channel"] == "C0ALARMS"  # no namespace to route by: the default channel
    blocks = json.dumps(root.args["blocks"])
    assert "No Kubernetes Service found" in blocks and "describe-tags" in blocks
    run_jobs(r)
    root_ts = next(ts for (ch, ts), m in slack.messages.items() if ch == "C0ALARMS")
    thread = [c for c in slack.calls_to("chat.postMessage") if c.args.get("thread_ts") == root_ts]
    assert thread, "a report is posted even without a Service"
    text = json.dumps([c.args for c in thread])
    assert "AWS-" in text  # the cloud-side checks ran on the target group
    verdict = json.dumps(updates_for(slack, root_ts)[-1].args["blocks"]) if updates_for(slack, root_ts) else ""
    assert "K8S-SVC-EXISTS" not in verdict  # "no Service" is the mapping's answer, not the root cause
    updates = [c for c in slack.calls_to("chat.update") if c.args["ts"] == root_ts]
    assert updates and "Details in the thread" in json.dumps(updates[-1].args["blocks"])


def test_a_repeat_after_the_rediagnose_interval_queues_one_more_diagnosis_in_the_same_thread(world, signer):
    client, r, slack, hooks = world
    sns(client, signer.notification(alarm(), topic=TOPIC))
    run_jobs(r)
    root_ts = next(ts for (ch, ts), m in slack.messages.items() if ch == "C0SHOP")
    first_reports = len([c for c in slack.calls_to("chat.postMessage") if c.args.get("thread_ts") == root_ts])
    hooks.incidents.policy.rediagnose_after = 0  # "the last diagnosis is older than the interval"
    resp = sns(client, signer.notification(alarm(changed="2026-11-21T10:20:00.000+0000"), topic=TOPIC))
    assert resp.get_json()["outcome"] == "rediagnose"
    run_jobs(r)
    thread = [c for c in slack.calls_to("chat.postMessage") if c.args.get("thread_ts") == root_ts]
    assert len(thread) == 2 * first_reports and len(roots(slack)) == 1
