"""The worker side of incidents: after a diagnosis (or its final failure), show the verdict on the
incident's root message (bot.worker calls the updater registered for origin "alarm")."""

from __future__ import annotations

import time
from typing import Any

from bot.incidents.messages import root_message
from bot.incidents.store import Incidents
from bot.slack import client as slack


def update_alarm_root(outcome: Any) -> None:
    """bot.worker ROOT_UPDATERS["alarm"]: after a diagnosis (or its final failure), show the verdict on
    the incident's root message, with the current counter and state (rendered from Redis)."""
    job = outcome.job
    key = job.incident_key
    if not key:
        return
    incidents = Incidents(outcome.redis)
    if outcome.ok and outcome.report is not None:
        verdict = outcome.report.verdict.to_dict()
    else:
        verdict = {"status": "error", "check_id": None, "summary": f"the diagnosis failed: {outcome.error}"}
    incidents.set_fields(key, verdict=verdict, last_report_at=repr(time.time()))
    with incidents.render_lock(key):
        inc = incidents.get(key)
        if not inc:
            return
        channel, ts = inc.get("channel") or job.channel, inc.get("root_ts") or job.root_ts
        if not ts:
            return
        msg = root_message(inc)
        slack.call(outcome.client, "chat_update", channel=channel, ts=ts, text=msg["text"], blocks=msg["blocks"])
