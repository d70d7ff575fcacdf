"""Jinja2 -> terminal text, Markdown, JSON report and Slack Block Kit.

Templates live in the top-level `templates` package so they are found the same way from a
checkout and from an installed wheel. Slack output is validated with slack_sdk's Block Kit
models, and split so that no message exceeds 50 blocks or a section 3000 characters.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib.resources import files
from typing import Any

import jinja2
from slack_sdk.models.blocks import Block

from checks.model import Finding, Report, Status

MAX_BLOCKS = 50
SECTION_CHARS = 3000
FINDINGS_PER_MESSAGE = 20
MAX_SLACK_FINDINGS = 40  # beyond this the thread gets the full report as a file

MARKS = {"pass": "✓", "warn": "!", "fail": "✗", "skip": "-", "error": "?"}
EMOJI = {
    "pass": ":white_check_mark:",
    "warn": ":warning:",
    "fail": ":x:",
    "skip": ":fast_forward:",
    "error": ":grey_question:",
}


def _clip(text: str, limit: int) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _mrkdwn(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _bullets(items: list[str]) -> str:
    return "\n".join(f"• {_mrkdwn(i)}" for i in items)


def _skip_line(f: Finding) -> str:
    return f"{f.check_id} ({_clip(f.summary, 80)})"


@lru_cache(maxsize=1)
def env() -> jinja2.Environment:
    """The shared Jinja2 environment (other modules add their own templates under templates/)."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(files("templates"))),
        autoescape=False,  # output is terminal text, Markdown and JSON (strings go through tojson)
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    environment.filters.update(clip=_clip, mrkdwn=_mrkdwn, skip_line=_skip_line)
    environment.globals.update(
        mark=lambda s: MARKS.get(str(s), "?"),
        emoji=lambda s: EMOJI.get(str(s), ":grey_question:"),
        bullets=_bullets,
    )
    return environment


def _groups(report: Report) -> dict[str, Any]:
    root = report.root_cause if report.verdict.status in (Status.FAIL, Status.WARN) else None
    failing = [f for f in report.findings if f.failing and f is not root]
    skip_groups: dict[str, list[str]] = {}
    for f in report.by_status(Status.SKIP):
        skip_groups.setdefault(f.summary, []).append(f.check_id)
    return {
        "skip_groups": sorted(skip_groups.items(), key=lambda kv: -len(kv[1])),
        "report": report,
        "root": root,
        "others": failing,
        "errors": report.by_status(Status.ERROR),
        "passes": report.by_status(Status.PASS),
        "skips": report.by_status(Status.SKIP),
    }


def render_text(report: Report, max_evidence: int = 8) -> str:
    e = env()
    body = e.get_template("finding.txt.j2")

    def finding_body(f: Finding, brief: bool = False) -> str:
        return body.render(f=f, brief=brief, max_evidence=max_evidence).rstrip("\n")

    text = e.get_template("report.txt.j2").render(finding_body=finding_body, **_groups(report))
    return re.sub(r"\n{3,}", "\n\n", text)  # sections that render empty leave no double gaps


def render_markdown(report: Report) -> str:
    return env().get_template("report.md.j2").render(report=report)



def render_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False)


def validate_blocks(blocks: list[dict[str, Any]]) -> None:
    """Raise if Slack would reject these blocks (slack_sdk's models and limits)."""
    if len(blocks) > MAX_BLOCKS:
        raise ValueError(f"{len(blocks)} blocks in one message; Slack allows {MAX_BLOCKS}")
    for raw in blocks:
        block = Block.parse(raw)
        if block is None:
            raise ValueError(f"not a Block Kit block: {raw.get('type')}")
        block.validate_json()


def slack_report(report: Report) -> tuple[list[dict[str, Any]], bool]:
    """Thread replies for a report, and whether it overflowed (then post render_markdown as a file)."""
    groups = _groups(report)
    others = groups["others"]
    overflow = len(others) + (1 if groups["root"] else 0) > MAX_SLACK_FINDINGS
    shown = others[: MAX_SLACK_FINDINGS - 1]
    chunks = [shown[i : i + FINDINGS_PER_MESSAGE] for i in range(0, len(shown), FINDINGS_PER_MESSAGE)]
    raw = env().get_template("slack/report.json.j2").render(other_chunks=chunks, **groups)
    messages = json.loads(raw)
    if overflow:
        messages[-1]["blocks"].append(
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"{len(others) - len(shown)} more failing findings: the full report is attached as a file.",
                    }
                ],
            }
        )
    for message in messages:
        validate_blocks(message["blocks"])
    return messages, overflow


def slack_report_messages(report: Report) -> list[dict[str, Any]]:
    """Thread replies: root cause, other failing findings, the rest collapsed. Each {text, blocks}."""
    return slack_report(report)[0]
