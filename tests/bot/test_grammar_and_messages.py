"""The /lbhealth grammar, and every root/status template renders valid Block Kit within limits."""

from __future__ import annotations

import pytest

from bot.queue import DiagnosisJob
from bot.render import render_message
from bot.slack.grammar import UsageError, parse_command
from checks.model import Status, Verdict
from tests.bot.conftest import validate_message


@pytest.mark.parametrize("text,ns,svc,cluster", [
    ("web", "default", "web", None),
    ("shop/web", "shop", "web", None),
    ("web -n shop", "shop", "web", None),
    ("-n shop web", "shop", "web", None),
    ("web --namespace=shop --cluster prod", "shop", "web", "prod"),
    ("shop/web --cluster=eu-1", "shop", "web", "eu-1"),
    ("  shop/web  ", "shop", "web", None),
    ('shop/"web\n"', "shop", "web", None),  # surrounding whitespace of the whole name is trimmed
])
def test_valid_commands(text, ns, svc, cluster):
    cmd = parse_command(text)
    assert not cmd.help
    assert (cmd.target.namespace, cmd.target.service, cmd.target.cluster) == (ns, svc, cluster)


@pytest.mark.parametrize("text", ["", "help", "--help", "HELP"])
def test_help(text):
    assert parse_command(text).help


@pytest.mark.parametrize("text,message", [
    ("Shop/web", "not a valid namespace"),
    ("shop/9web", "not a valid Service name"),
    ("shop/web -n other", "namespace given twice"),
    ("web -n", "needs a value"),
    ("web --cluster", "needs a value"),
    ("web --force", "unknown option"),
    ("web api", "one Service at a time"),
    ("-n shop", "no Service name"),
    ("web 'unterminated", "could not read"),
    ("a" * 64, "not a valid Service name"),
    ('"shop\n"/web', "not a valid namespace"),  # `$` matches before a trailing newline: fullmatch
    ('web -n "shop\n"', "not a valid namespace"),
    ("shop/web " + "x" * 400, "at most 300"),
])
def test_bad_commands(text, message):
    with pytest.raises(UsageError, match=message):
        parse_command(text)


JOB = DiagnosisJob(namespace="shop", service="web", cluster="prod", channel="C1", requested_by="U1")
WEIRD = DiagnosisJob(namespace="shop", service="web", channel="C1")  # no cluster, no requester


@pytest.mark.parametrize("job", [JOB, WEIRD])
@pytest.mark.parametrize("name,ctx", [
    ("root", {}),
    ("root_done", {"verdict": Verdict(Status.FAIL, "K8S-TARGETPORT", "targetPort 8080 <closed> & \"quoted\"\nline"),
                   "duration": "1.2 s"}),
    ("root_done", {"verdict": Verdict(Status.PASS, None, "All checks passed"), "duration": "0.4 s"}),
    ("root_failed", {"reason": "x" * 5000, "attempts": 4}),
    ("failed", {"reason": "ConnectionError: <refused> " + "y" * 5000, "attempts": 1, "job_id": "abc"}),
    ("busy", {"permalink": "https://x.slack.com/archives/C1/p1", "state": "running"}),
    ("busy", {"permalink": None, "state": "queued"}),
    ("too_large", {"verdict": Verdict(Status.WARN, "AWS-SG", "z" * 4000), "n_findings": 80, "filename": "r.md"}),
])
def test_status_messages_are_valid_block_kit(job, name, ctx):
    message = render_message(name, job=job, **ctx)
    validate_message(message)


def test_root_done_is_one_line_and_escaped():
    message = render_message("root_done", job=JOB, duration="1.2 s",
                             verdict=Verdict(Status.FAIL, "K8S-TARGETPORT", "a <b> & c\nsecond line"))
    text = message["blocks"][0]["text"]["text"]
    assert text == ":red_circle: *shop/web* on *prod*: a &lt;b&gt; &amp; c second line (`K8S-TARGETPORT`)"


@pytest.mark.parametrize("ctx", [
    {"error": None, "clusters": [], "default_cluster": None, "example_cluster": None},
    {"error": "bad <thing> " + "q" * 4000, "clusters": ["prod", "staging"], "default_cluster": "prod",
     "example_cluster": "prod"},
])
def test_usage_and_invite(ctx):
    validate_message(render_message("usage", command="/lbhealth", **ctx))
    validate_message(render_message("invite", error="not_in_channel", command_text="/lbhealth shop/web"))
