"""Hostile strings for every place data reaches Slack, and the assertions that none of them speaks there.

`assert_inert(message)` parses a rendered message (text fallback and every text in its blocks) and
fails if anything from the corpus survived as Slack syntax: a mention, a broadcast, a link, a
channel reference, an unbalanced code fence, a raw control sequence, a bidi override.
"""

from __future__ import annotations

import re
from typing import Any

from tests.bot.conftest import validate_message

PROBE_PATH = "/healthz<!channel>```<@U0BOSS><https://evil.example|login>"
CORPUS = [
    PROBE_PATH,
    "<!here>",
    "<!everyone> and @channel and @here",
    "<#C123>",
    "<#C123|general>",
    "*bold* _italic_ ~strike~ injection",
    "<https://evil.example|Approve>",
    "`inline` ```block``` `",
    "line one\n```\n<@U0BOSS>\n```",
    "\u202egnp.exe\u202c and \u2066isolate\u2069",
    "&lt;!channel&gt; pre-escaped &amp; <",
    "\x00\x07\x1b[31mred\r",
    "<!subteam^S123|@oncall>",
    "<mailto:a@evil.example|mail>",
    "x" * 6000 + "<!channel>",
]
HOSTILE = " | ".join(s[:200] for s in CORPUS)  # all of them in one value

# What our own templates may write between < and >: a user mention of a known id, a channel reference
# of a known id, a link to a Slack permalink.
OURS = re.compile(r"<@U1>|<@W111>|<#C1>|<#C111>|<https://example\.slack\.com/archives/C1/p1\|its thread>")
ENTITY = re.compile(r"&(amp|lt|gt);")


def texts(message: dict[str, Any]) -> list[str]:
    """Every string Slack renders: the fallback and each `text` in the blocks, at any depth."""
    out = [message.get("text") or ""]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "text" and isinstance(value, str):
                    out.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(message.get("blocks") or [])
    return out


def assert_inert(message: dict[str, Any]) -> None:
    validate_message(message)
    for text in texts(message):
        leftover = OURS.sub("", text)
        assert "<" not in leftover and ">" not in leftover, f"unescaped < or > in {text[:300]!r}"
        assert all(ENTITY.match(text, m.start()) for m in re.finditer("&", text)), f"bare & in {text[:300]!r}"
        assert text.count("```") % 2 == 0, f"unbalanced code block in {text[:300]!r}"
        assert text.replace("```", "").count("`") % 2 == 0, f"unbalanced code span in {text[:300]!r}"
        assert not re.search("[\u202a-\u202e\u2066-\u2069\x00-\x08\x0b-\x1f\x7f]", text), f"control/bidi in {text[:300]!r}"
        assert not re.search(r"@(here|channel|everyone)\b", text), f"broadcast word in {text[:300]!r}"
    for block in message.get("blocks") or []:
        for obj in _text_objects(block):
            if obj.get("type") == "mrkdwn":
                assert obj.get("verbatim") is True, obj


def _text_objects(node: Any):
    if isinstance(node, dict):
        if node.get("type") in ("mrkdwn", "plain_text") and "text" in node:
            yield node
        for value in node.values():
            yield from _text_objects(value)
    elif isinstance(node, list):
        for value in node:
            yield from _text_objects(value)


def carried(messages: list[dict[str, Any]], needle: str = "&lt;!channel&gt;") -> bool:
    """The hostile data did reach the output (escaped), so the test is not vacuous."""
    return any(needle in t for m in messages for t in texts(m))
