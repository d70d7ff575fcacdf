"""The incident messages are valid Block Kit in every state (slack_sdk's models and limits)."""

from __future__ import annotations

import pytest

from bot.incidents import render, root_message
from bot.render import validate_blocks
from bot.webhooks.alarms import parse_cloudwatch, parse_tencent
from tests.webhooks import payloads as p

ALARMS = {
    "alb": parse_cloudwatch(p.cloudwatch_alb(), message_id="1").to_dict(),
    "tencent": parse_tencent(p.tencent_clb()).to_dict(),
}


def incident(**over):
    base = {"id": "abc123", "state": "open", "count": 1, "opened_at": 1_800_000_000.0, "flaps": 0, "alarm": ALARMS["alb"]}
    base.update(over)
    return base


@pytest.mark.parametrize("inc", [
    incident(),
    incident(alarm=ALARMS["tencent"], count=7, flaps=2),
    incident(mapping={"services": ["shop/web"], "cluster": "prod", "how": "TargetGroupBinding shop/x", "why": None}),
    incident(mapping={"services": [], "cluster": None, "how": "", "why": "no TargetGroupBinding <and> no tags & more " * 100}),
    incident(verdict={"status": "fail", "check_id": "K8S-TARGETPORT", "summary": "targetPort 8080 is not a container port " * 200}),
    incident(verdict={"status": "error", "check_id": None, "summary": "the diagnosis failed: boom"}),
    incident(state="resolved", resolved_at=1_800_003_725.0, count=1000),
    incident(elsewhere={"channel": "C1", "root_ts": "1.2"}),
])
def test_root_message_is_valid_block_kit(inc):
    msg = root_message(inc, now=1_800_000_090.0)
    assert msg["text"] and len(msg["text"]) <= 3000
    validate_blocks(msg["blocks"])


def test_root_message_content():
    msg = root_message(incident(count=5, mapping={"services": ["shop/web"], "cluster": "prod", "how": "tag x", "why": None}),
                       now=1_800_000_090.0)
    text = str(msg["blocks"])
    assert "ALARM" in msg["text"] and "k8s-shop-web-6f3c1b2a9d" in msg["text"]
    assert "fired 5 times" in text and "open for 1 min 30 s" in text and "*shop/web* on *prod*" in text
    done = root_message(incident(state="resolved", resolved_at=1_800_003_725.0))
    assert done["text"].startswith("Resolved after 1 h 02 min")


def test_resolved_note_is_valid_block_kit():
    from bot.webhooks.alarms import Alarm

    note = render("incident_resolved.j2", incident=incident(count=3), elapsed=725, alarm=Alarm.from_dict(ALARMS["alb"]))
    validate_blocks(note["blocks"])
    assert "12 min 05 s" in note["text"] and "fired 3 times" in str(note["blocks"])
    validate_blocks(render("incident_resolved.j2", incident=incident(), elapsed=5, alarm=None)["blocks"])


def test_root_message_names_what_the_alarm_is_about():
    assert " on target group k8s-shop-web-6f3c1b2a9d" in root_message(incident(), now=1_800_000_090.0)["text"]
    assert " on CLB " in root_message(incident(alarm=ALARMS["tencent"]), now=1_800_000_090.0)["text"]
    bare = {**ALARMS["alb"], "target_groups": [], "load_balancer": "app/shop/abc"}
    assert " on load balancer app/shop/abc" in root_message(incident(alarm=bare), now=1_800_000_090.0)["text"]
