"""Renderers: text leads with the verdict; Slack output stays within Block Kit limits."""

from __future__ import annotations

import json

import pytest
from slack_sdk.errors import SlackObjectFormationError

from bot import render
from checks.model import Finding, FixPlan, Report, Status, Target
from checks.rank import rank


def report_with(findings: list[Finding]) -> Report:
    ordered, verdict = rank(findings, {})
    return Report(target=Target.parse("shop/web"), verdict=verdict, findings=ordered)


def sample() -> Report:
    fix = FixPlan(
        "FIX-TARGETPORT",
        "Patch targetPort",
        {"spec": {"ports": [{"port": 80, "targetPort": 80}]}},
        "kubectl patch svc web -n shop -p '{...}'",
    )
    return report_with(
        [
            Finding(
                "K8S-TARGETPORT",
                Status.FAIL,
                "Service port 80 targets 8080; pods listen on 80",
                ["Service shop/web spec.ports[0].targetPort = 8080"],
                "kubectl get svc web -n shop -o yaml",
                fix,
                cause="targetport",
            ),
            Finding(
                "AWS-TARGET-HEALTH",
                Status.FAIL,
                "2 of 2 targets unhealthy <Target.FailedHealthChecks>",
                ["127.0.0.2:8080 unhealthy"],
                supports=("targetport",),
            ),
            Finding("K8S-SELECTOR", Status.PASS, "Selector app=web matches 2 pods"),
            Finding("AWS-SG", Status.SKIP, "targets answered; network not suspected"),
            Finding("K8S-EVENTS", Status.ERROR, "forbidden: cannot list events"),
        ]
    )


def test_text_report_verdict_first_then_failing_then_collapsed():
    text = render.render_text(sample())
    lines = text.splitlines()
    assert lines[0].startswith("✗ FAIL  shop/web")
    assert "[K8S-TARGETPORT]" in lines[1]
    assert (
        text.index("ROOT CAUSE  K8S-TARGETPORT")
        < text.index("ALSO FAILING (1)")
        < text.index("passed (1): K8S-SELECTOR")
    )
    assert "fix FIX-TARGETPORT" in text and "kubectl patch svc web" in text
    assert "skipped (1):\n  AWS-SG: targets answered" in text and "COULD NOT CHECK (1)" in text


def test_json_report_contract():
    data = json.loads(render.render_json(sample()))
    assert set(data) == {"target", "verdict", "findings", "missing", "notes", "api_calls", "duration_ms"}
    assert data["verdict"] == {
        "status": "fail",
        "check_id": "K8S-TARGETPORT",
        "summary": "Service port 80 targets 8080; pods listen on 80",
    }
    first = data["findings"][0]
    assert set(first) == {"check_id", "status", "summary", "evidence", "next_step", "fix"}
    assert set(first["fix"]) == {"id", "title", "patch", "command"}
    assert data["api_calls"] == {"k8s": 0, "aws": 0, "tencent": 0}


def test_slack_messages_are_valid_block_kit_and_escape_mrkdwn():
    messages = render.slack_report_messages(sample())
    assert messages[0]["blocks"][0]["type"] == "header"
    assert "Root cause: K8S-TARGETPORT" in messages[0]["blocks"][0]["text"]["text"]
    blob = json.dumps(messages)
    assert "&lt;Target.FailedHealthChecks&gt;" in blob  # < and > cannot inject links or mentions
    for m in messages:
        render.validate_blocks(m["blocks"])
        assert m["text"]


def test_huge_report_overflows_to_a_file_and_stays_within_limits():
    findings = [
        Finding(f"K8S-X{i}", Status.FAIL, "x" * 500, ["e" * 4000] * 3, "n" * 4000) for i in range(120)
    ]
    messages, overflow = render.slack_report(report_with(findings))
    assert overflow
    for m in messages:
        assert len(m["blocks"]) <= render.MAX_BLOCKS
        for b in m["blocks"]:
            if b["type"] == "section":
                assert len(b["text"]["text"]) <= render.SECTION_CHARS
    assert "attached as a file" in json.dumps(messages[-1])
    assert "## ✗ K8S-X119" in render.render_markdown(
        report_with(findings)
    ) or "K8S-X119" in render.render_markdown(report_with(findings))


def test_validate_blocks_rejects_what_slack_rejects():
    with pytest.raises(SlackObjectFormationError):
        render.validate_blocks([{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}])
    with pytest.raises(ValueError):
        render.validate_blocks([{"type": "divider"}] * 51)
