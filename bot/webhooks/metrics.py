"""Alarm webhook counters, in the bot's one Prometheus registry (bot.metrics.REGISTRY)."""

from __future__ import annotations

from prometheus_client import Counter

from bot.metrics import REGISTRY

ALARMS_RECEIVED = Counter(
    "lbhealth_alarms_received_total",
    "Alarm deliveries recorded, by source (cloudwatch|eventbridge|tencent) and outcome "
    "(opened|repeat|rediagnose|reopened|resolved|duplicate|stale|ignored|unavailable|subscription_confirmed|...)",
    ["source", "outcome"], registry=REGISTRY,
)
ALARMS_DEDUPLICATED = Counter(
    "lbhealth_alarms_deduplicated_total", "Alarm deliveries already seen (SNS MessageId, Tencent sessionId), by source",
    ["source"], registry=REGISTRY,
)
ALARMS_REFUSED = Counter(
    "lbhealth_alarms_refused_total", "Alarm deliveries refused, by source and reason (forged|malformed|too_large)",
    ["source", "reason"], registry=REGISTRY,
)
