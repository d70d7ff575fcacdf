"""Nothing from a cluster, a cloud API, an alarm or a command can speak in Slack (issue 9 item 1).

Hostile strings (tests/bot/hostile.py) are injected into cluster objects (probe paths, annotations,
event and pod messages), cloud outputs (target-health descriptions, health-check paths) and alarm
payloads; the real engine diagnoses them; every template and message renders them; each result is
parsed and must hold no mention, broadcast, link or unbalanced code fence from the data, and still
validate with slack_sdk's Block Kit models.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from bot.incidents import render, root_message
from bot.queue import DiagnosisJob
from bot.render import format_duration, render_message, slack_report
from bot.webhooks.alarms import parse_cloudwatch, parse_tencent
from checks.model import Finding, FixPlan, Report, Status, Target, Verdict
from checks.runner import diagnose
from tests.bot.hostile import CORPUS, HOSTILE, PROBE_PATH, assert_inert, carried
from tests.webhooks import payloads as p

ROOT = Path(__file__).resolve().parents[2]
INJECT_KEYS = {"path", "message", "HealthCheckPath", "Description", "HttpCheckPath", "description"}


def _inject(node):
    """Every string under INJECT_KEYS becomes hostile; every annotations map gains a hostile value."""
    if isinstance(node, dict):
        for key, value in list(node.items()):
            if key in INJECT_KEYS and isinstance(value, str | None) and (value or key == "HttpCheckPath"):
                node[key] = PROBE_PATH if key in ("path", "HealthCheckPath", "HttpCheckPath") else HOSTILE
            elif key == "annotations" and isinstance(value, dict):
                value["evil.example/note"] = HOSTILE
                _inject(value)
            else:
                _inject(value)
    elif isinstance(node, list):
        for item in node:
            _inject(item)


def hostile_dump(example: str, tmp_path: Path) -> Path:
    out = tmp_path / example
    out.mkdir()
    for src in (ROOT / "examples" / example).iterdir():
        text = src.read_text(encoding="utf-8")
        if src.suffix in (".yaml", ".yml"):
            docs = list(yaml.safe_load_all(text))
            _inject(docs)
            (out / src.name).write_text(yaml.safe_dump_all(docs), encoding="utf-8")
        elif src.suffix == ".json":
            data = json.loads(text)
            _inject(data)
            (out / src.name).write_text(json.dumps(data), encoding="utf-8")
        else:
            (out / src.name).write_text(text, encoding="utf-8")
    return out


JOB = DiagnosisJob(namespace="shop", service="web", cluster="prod", channel="C1", requested_by="U1")


@pytest.mark.parametrize(("example", "target"), [
    ("alb-healthcheck-path", "shop/checkout"),
    ("targetport-mismatch", "shop/web"),
    ("image-pull-backoff", "api/billing"),
    ("tke-direct-access-crashloop", "mall/order"),
    ("security-group-blocks-nlb", "store/catalog"),
    ("pods-pending", "orders/orders"),
])
def test_hostile_cluster_and_cloud_data_through_the_report(example, target, tmp_path):
    report, _ = diagnose(Target.parse(target), sources=[str(hostile_dump(example, tmp_path))])
    messages, _ = slack_report(report)
    job = DiagnosisJob(namespace=report.target.namespace, service=report.target.service, cluster="prod",
                       channel="C1", requested_by="U1")
    messages += [
        render_message("root_done", job=job, verdict=report.verdict, duration=format_duration(1.5)),
        render_message("too_large", job=job, verdict=report.verdict, n_findings=len(report.findings), filename="r.md"),
    ]
    for message in messages:
        assert_inert(message)
    assert carried(messages) or carried(messages, "/healthz&lt;!channel&gt;"), "the hostile data never reached Slack"


def hostile_report(text: str) -> Report:
    fix = FixPlan("FIX-HEALTHCHECK-PATH", f"Set the path to {text}", {"metadata": {"annotations": {text: text}}},
                  f"kubectl annotate ingress web -n shop x='{text}'", tradeoff=text)
    findings = [
        Finding("K8S-ALB-INGRESS", Status.FAIL, f"health check path {text} answers 404", [text, f"pod message: {text}"],
                f"curl -s http://127.0.0.1{text}", fix, cause="healthcheck-path"),
        *[Finding(f"AWS-X{i}", Status.FAIL, f"also {text}", [text] * 8, text, fix) for i in range(45)],
        Finding("K8S-EVENTS", Status.ERROR, f"forbidden: {text}", [], text),
        Finding("AWS-SG", Status.SKIP, f"skipped because {text}"),
        Finding("K8S-SELECTOR", Status.PASS, text),
    ]
    return Report(target=Target.parse("shop/web"), verdict=Verdict(Status.FAIL, "K8S-ALB-INGRESS", text), findings=findings)


@pytest.mark.parametrize("text", CORPUS + [HOSTILE])
def test_every_report_message_and_overflow(text):
    messages, overflow = slack_report(hostile_report(text))
    assert overflow
    for message in messages:
        assert_inert(message)


@pytest.mark.parametrize("text", CORPUS + [HOSTILE])
def test_every_status_message(text):
    verdict = Verdict(Status.FAIL, "K8S-TARGETPORT", text)
    odd_job = DiagnosisJob(namespace=text, service=text, cluster=text, channel="C1", requested_by=text)
    for job in (JOB, odd_job):
        for message in [
            render_message("root", job=job),
            render_message("root_done", job=job, verdict=verdict, duration=text),
            render_message("root_failed", job=job, reason=text, attempts=3),
            render_message("failed", job=job, job_id=text, reason=RuntimeError(text), attempts=1),
            render_message("busy", job=job, permalink=text, state="running"),
            render_message("busy", job=job, permalink="https://example.slack.com/archives/C1/p1", state=text),
            render_message("too_large", job=job, verdict=verdict, n_findings=80, filename=text),
            render_message("invite", error=text, command_text=f"/lbhealth {text}"),
            render_message("usage", command=text, error=text, clusters=[text, "prod"], default_cluster=text,
                           example_cluster=text),
            render_message("cannot_start", command_text=text, reason=text, retry=True),
        ]:
            assert_inert(message)


def test_the_probe_path_is_shown_but_inert():
    message = render_message("root_done", job=JOB, verdict=Verdict(Status.FAIL, "K8S-ALB-INGRESS", PROBE_PATH),
                             duration="1 s")
    text = message["blocks"][0]["text"]["text"]
    assert "/healthz&lt;!channel&gt;ˋˋˋ&lt;@U0BOSS&gt;&lt;https://evil.example|login&gt;" in text


def _tencent(text: str) -> dict:
    payload = p.tencent_clb(dims={"protocol": text, "vip": f"1:{text}", "vport": 80, "objId": f"{text}#80#tcp",
                                  "loadBalancerId": "lb-abcdef12"})
    payload["alarmPolicyInfo"]["policyName"] = text
    payload["alarmPolicyInfo"]["conditions"]["metricShowName"] = text
    return payload


@pytest.mark.parametrize("text", CORPUS + [HOSTILE])
def test_alarm_fields_in_incident_root_and_resolved_note(text):
    cw = p.cloudwatch_alb()
    cw["AlarmName"], cw["NewStateReason"] = text, text
    alarms = [parse_tencent(_tencent(text)), parse_cloudwatch(json.dumps(cw), message_id="m1")]
    for alarm in alarms:
        base = {"id": "abc", "state": "open", "count": 2, "opened_at": 1.0, "flaps": 1, "alarm": alarm.to_dict(),
                "mapping": {"services": [text], "cluster": text, "how": text, "why": text},
                "verdict": {"status": "fail", "check_id": text, "summary": text},
                "elsewhere": {"channel": text}}
        for inc in (base, {**base, "mapping": {"services": [], "why": text}, "verdict": None},
                    {**base, "state": "resolved", "resolved_at": 100.0}):
            assert_inert(root_message(inc, now=50.0))
        assert_inert(render("incident_resolved.j2", incident=base, elapsed=725, alarm=alarm))


@pytest.mark.parametrize("text", [PROBE_PATH, f"web --cluster '{PROBE_PATH}'", f"web -n '<!here>' {HOSTILE[:200]}",
                                  "'`'```<@U0BOSS>"])
def test_ephemeral_replies_from_the_real_app_are_inert(web, slack_api, text):
    """A signed /lbhealth with hostile text, through bolt and the web app: the reply in the ack is inert."""
    from tests.bot.conftest import command_body, post, signed_headers

    body = command_body(text, response_url=slack_api.response_url(), trigger_id=None)
    status, answer, _ = post(web.url + "/slack/events", body, signed_headers(body))
    assert status == 200
    reply = json.loads(answer)
    assert reply.get("blocks"), reply
    assert_inert(reply)
