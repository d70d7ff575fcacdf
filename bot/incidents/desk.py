"""AlarmDesk, in the web tier: record an alarm delivery and keep the root messages of repeats up to date.

What follows a new incident (finding the Service, the channel, the root message, the job) runs in the
workers (bot.incidents.followup): the web tier's ServiceAccount has no Kubernetes permissions."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from bot.incidents.store import Incidents
from bot.incidents.updates import RootUpdates
from bot.webhooks.alarms import Alarm

log = logging.getLogger("bot.incidents")


@dataclass
class Delivery:
    """What the webhook answers after recording an alarm."""

    outcome: str
    incident_id: str = ""
    queued: bool = False  # a diagnosis is due: the incident is pending for the workers' follow-up
    root_ts: str | None = None
    info: dict[str, Any] = field(default_factory=dict)


class AlarmDesk:
    """Records an alarm (one Lua transition) and schedules the coalesced root updates of repeats.

    The webhook answers as soon as the transition is recorded: an incident that needs a diagnosis is
    then in the `pending` sorted set, durably, and its key on the workers' `wake` list; a worker
    (bot.incidents.followup.FollowUps) maps it to the Service and queues the diagnosis. `slack` is a
    slack_sdk WebClient (None: nothing posted)."""

    def __init__(self, incidents: Incidents, *, slack: Any, metrics: Any = None) -> None:
        self.incidents = incidents
        self.slack = slack
        self.metrics = metrics
        self.updates = RootUpdates(incidents, slack)

    # -- the webhook path -------------------------------------------------------------------
    def receive(self, alarm: Alarm) -> Delivery:
        """Record durably (raises redis errors: the caller answers 5xx); the workers do the rest."""
        out = self.incidents.record(alarm)
        key = out.incident_key
        if out.outcome == "duplicate" and self.metrics:
            self.metrics.deduplicated(alarm.source)
        if out.outcome == "resolved":
            self.updates.schedule(key, 0.0, resolved=True)
        elif out.refresh:
            self.updates.schedule(key, self.incidents.policy.update_every)
        return Delivery(out.outcome, out.incident_id, out.need_enqueue, out.root_ts, {"count": out.count})

    def close(self) -> None:
        self.updates.stop()
