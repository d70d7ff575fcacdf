"""The incident's messages: the root message (rendered from the state in Redis) and notes in its thread."""

from __future__ import annotations

import time
from typing import Any

from bot.render import render_message
from bot.webhooks.alarms import Alarm


def render(template: str, **context: Any) -> dict[str, Any]:
    return render_message(template.removesuffix(".j2"), **context)


def root_message(incident: dict[str, Any], now: float | None = None) -> dict[str, Any]:
    now = time.time() if now is None else now
    alarm = incident.get("alarm") or incident.get("first_alarm") or {}
    if isinstance(alarm, dict):
        alarm = Alarm.from_dict(alarm)
    end = incident.get("resolved_at") if incident.get("state") == "resolved" else now
    return render(
        "incident_root.j2",
        incident=incident,
        alarm=alarm,
        elapsed=(end or now) - (incident.get("opened_at") or now),
        mapping=incident.get("mapping") if isinstance(incident.get("mapping"), dict) else None,
        verdict=incident.get("verdict") if isinstance(incident.get("verdict"), dict) else None,
    )
