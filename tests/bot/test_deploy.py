"""deploy/: the Slack manifest and the cloud read policies say what the bot needs, and only that.
(The Helm chart, its RBAC and the exact policy lists are held in tests/deploy.)"""

from __future__ import annotations

import json

import yaml

from tests.bot.conftest import ROOT

DEPLOY = ROOT / "deploy"


def test_slack_manifest_has_the_command_and_scopes():
    m = yaml.safe_load((DEPLOY / "slack-app-manifest.yaml").read_text())
    (cmd,) = m["features"]["slash_commands"]
    assert cmd["command"] == "/lbhealth" and cmd["url"].endswith("/slack/events")
    assert set(m["oauth_config"]["scopes"]["bot"]) == {"commands", "chat:write", "chat:write.public", "files:write",
                                                         "channels:history", "groups:history"}
    assert m["settings"]["interactivity"]["is_enabled"] is True
    assert m["settings"]["interactivity"]["request_url"].endswith("/slack/events")


def test_cloud_read_policies_only_describe():
    iam = json.loads((DEPLOY / "iam-policy-read.json").read_text())
    actions = [a for s in iam["Statement"] for a in s["Action"]]
    reads = [a for a in actions if a.startswith(("elasticloadbalancing:", "ec2:"))]
    assert reads and all(a.split(":")[1].startswith("Describe") for a in reads)
    cam = json.loads((DEPLOY / "cam-policy-read.json").read_text())
    assert all(a.split(":")[1].startswith("Describe") for s in cam["statement"] for a in s["action"])
