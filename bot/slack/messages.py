"""The root/status messages of a diagnosis, rendered from templates/slack/*.j2.

Each template renders one JSON object {"text": fallback, "blocks": [...]}. The report itself
(thread replies, markdown file) is rendered by bot.render; this module holds the messages around it.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

import jinja2

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000


def _mrkdwn(value: Any) -> str:
    """Escape the three characters Slack's mrkdwn gives meaning to (&, <, >)."""
    return str(value if value is not None else "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _oneline(value: Any, limit: int = 200) -> str:
    text = re.sub(r"\s+", " ", str(value or "")).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _truncate(value: Any, limit: int = 2500) -> str:
    text = str(value or "")
    return text if len(text) <= limit else text[: limit - 1] + "…"


@lru_cache(maxsize=1)
def env() -> jinja2.Environment:
    """Our own environment on bot.render's loader (the `templates` package, checkout or wheel)."""
    from bot import render

    e = jinja2.Environment(loader=render.env().loader, autoescape=False, undefined=jinja2.StrictUndefined,
                           auto_reload=False)  # no stat() of the template per message
    e.filters.update(mrkdwn=_mrkdwn, oneline=_oneline, truncate_text=_truncate)
    return e


def render_message(name: str, **context: Any) -> dict[str, Any]:
    """Render templates/slack/<name>.j2 to a message dict, checked against Block Kit limits."""
    text = env().get_template(f"slack/{name}.j2").render(**context)
    try:
        message = json.loads(text)
    except ValueError as exc:  # a template bug; say which one
        raise ValueError(f"templates/slack/{name}.j2 did not render valid JSON: {exc}\n{text}") from exc
    check_limits(message)
    return message


def check_limits(message: dict[str, Any]) -> None:
    blocks = message.get("blocks") or []
    if len(blocks) > MAX_BLOCKS:
        raise ValueError(f"{len(blocks)} blocks, more than Slack's {MAX_BLOCKS}")
    for b in blocks:
        if b.get("type") == "section" and len((b.get("text") or {}).get("text", "")) > MAX_SECTION_TEXT:
            raise ValueError(f"a section is longer than {MAX_SECTION_TEXT} characters")


def format_duration(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"
