"""Alarm incidents: one Slack thread per load-balancer target group (or CLB listener) and alarm episode.

Every alarm delivery goes through one Lua script (`record`), so that however many copies arrive at
once (SNS retries, re-deliveries, a storm of 1,000), each transition happens exactly once:

- the delivery id (SNS MessageId, EventBridge id, Tencent sessionId) is claimed with SET NX EX:
  a copy already seen is `duplicate`;
- ALARM with no open incident -> `opened`: a new incident id, one root message, one diagnosis;
- ALARM on an open incident -> `repeat` (counter +1), or `rediagnose` when the last diagnosis is
  older than `rediagnose_after` (one more job in the same thread);
- ALARM within `flap_window` of the incident's recovery -> `reopened`: the same thread continues;
- OK -> `resolved` (once), later OKs are `ignored`; an ALARM after the flap window opens a new incident;
- a delivery older than the last state change seen (out of order) -> `stale`, no state change.

The delivery is answered (2xx) as soon as this transition is recorded. When a diagnosis is due
(`opened`, `rediagnose`, `reopened` after the interval), the incident key also goes into the
`lbhealth:incidents:pending` sorted set in the same script; `AlarmDesk` then, off the request path,
finds the Service (checks.collect.alarm_map), routes the channel, posts the root message (claimed
in Redis: once) and enqueues the job (bot.queue, deduplicated by Service or incident), and removes
the key from `pending`. If the process dies in between, a sweeper (any web process) or the next
delivery of the alarm picks the incident up again after `requeue_after` seconds.

Root-message updates for repeats are coalesced: at most one `chat.update` per incident per
`update_every` seconds (the claim is taken inside the same script), rendered from the state in
Redis at that moment (trailing edge), by a small scheduler thread in the web process. Recovery
posts a resolved note in the thread and marks the root resolved with the incident's duration.

Modules, by concern: `transitions` (the Lua state machine), `store` (Incidents: recording and
reading state in Redis), `routing` (which channel), `messages` (the root message and notes),
`desk` (AlarmDesk: the follow-up off the request path and the sweeper), `updates` (coalesced
root-message updates on a timer), `report` (the worker's root updater after a diagnosis).
"""

from bot.incidents.desk import AlarmDesk, Delivery
from bot.incidents.messages import render, root_message
from bot.incidents.report import update_alarm_root
from bot.incidents.routing import route_channel
from bot.incidents.store import Incidents, Outcome, Policy

__all__ = ["AlarmDesk", "Delivery", "Incidents", "Outcome", "Policy", "render", "root_message", "route_channel",
           "update_alarm_root"]
