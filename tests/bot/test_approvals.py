"""The fix flow end to end: signed block_actions through the real bolt app and web app, real Redis,
the fake Kubernetes API (the targetport-mismatch example served live, writes counted), the fake
Slack Web API, rq jobs run by an in-process worker."""

from __future__ import annotations

import json
import threading
import time
from urllib.parse import urlencode

import pytest

from bot.approvals import PREFIX, Records
from bot.fixes import audit
from bot.slack import actions_blocks as ui
from tests.bot.conftest import command_body, post, signed_headers, validate_message, wait_until
from tests.fakes.kube_api import FakeKubeAPI
from tests.fixes.conftest import example_objects

REQUESTER, ALICE, CAROL, EVE = "U0REQ", "U0ALICE", "U0CAROL", "U0EVE"
SG_TARGET = "store/catalog"


@pytest.fixture
def kube(monkeypatch, tmp_path):
    """shop/web (targetPort 8080, containerPort 80) served live; no cloud credentials anywhere."""
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL",
                "TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY", "LBHEALTH_TENCENT_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    for var in ("AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"):
        monkeypatch.setenv(var, str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with FakeKubeAPI(example_objects("targetport-mismatch"), record_bodies=True) as api:
        monkeypatch.setenv("KUBECONFIG", api.write_kubeconfig(str(tmp_path / "kubeconfig"), context="fake"))
        yield api


FIX_CONFIG = {
    "clusters": [{"name": "live", "context": "fake", "default": True, "probe": False}],
    "approvers": [ALICE, "S0SRE"],
    "enabled_fixes": ["FIX-TARGETPORT"],
}


@pytest.fixture
def fix_config():
    return dict(FIX_CONFIG)


@pytest.fixture
def config_file(tmp_path, fix_config):
    path = tmp_path / "lbhealth.yaml"
    path.write_text(json.dumps(fix_config), encoding="utf-8")
    return path


def run_jobs(redis) -> None:
    """Drain the queue in this process, as `lbhealth worker --burst` does."""
    from tests.bot.conftest import run_jobs as drain

    drain(redis)


def writes(api: FakeKubeAPI) -> list:
    return [r for r in api.calls(verb="patch") if r.query.get("dryRun") != "All"]


def click(web, slack_api, user: str, action_id: str, value: str, *, channel: str = "C111", team: str = "T111",
          response_url: str | None = None) -> tuple[int, str]:
    url = response_url or slack_api.response_url()
    payload = {
        "type": "block_actions", "team": {"id": team, "domain": "test"}, "user": {"id": user, "team_id": team},
        "api_app_id": "A111", "token": "verification_token", "trigger_id": f"trig-{time.time_ns()}",
        "container": {"type": "message", "message_ts": "1.0", "channel_id": channel, "is_ephemeral": False},
        "channel": {"id": channel, "name": "incidents"}, "response_url": url,
        "actions": [{"action_id": action_id, "block_id": "b", "value": value, "type": "button",
                     "text": {"type": "plain_text", "text": "x"}, "action_ts": str(time.time())}],
    }
    body = urlencode({"payload": json.dumps(payload)})
    status, _, _ = post(web.url + "/slack/events", body, signed_headers(body))
    return status, url


def replies_to(slack_api, url: str) -> list:
    return [c for c in slack_api.calls_to("response_url") if c.path == "/" + url.split("/", 3)[3]]


def answer(slack_api, url: str) -> str:
    (reply,) = wait_until(lambda: replies_to(slack_api, url), timeout=30)
    assert reply.args["response_type"] == "ephemeral" and reply.args["replace_original"] is False
    return reply.args["text"]


def buttons(message: dict) -> dict[str, str]:
    return {e["action_id"]: e["value"] for b in message.get("blocks") or [] if b["type"] == "actions" for e in b["elements"]}


def diagnose(web, slack_api, redis) -> dict:
    """/lbhealth shop/web from the requester; the report posted; returns the reply carrying the fix buttons."""
    body = command_body("shop/web", response_url=slack_api.response_url(), user=REQUESTER)
    assert post(web.url + "/slack/events", body, signed_headers(body))[0] == 200
    wait_until(lambda: slack_api.calls_to("chat.postMessage"))
    wait_until(lambda: redis.llen("rq:queue:lbhealth") == 1)
    run_jobs(redis)
    report = [c.args for c in slack_api.calls_to("chat.postMessage") if c.args.get("thread_ts")]
    for m in report:
        validate_message(m)
    return next(m for m in report if ui.PREVIEW in buttons(m))


def request_apply(web, slack_api, redis, report: dict) -> dict:
    """Apply fix by the requester -> the approval request message (validated)."""
    before = len(slack_api.calls_to("chat.postMessage"))
    assert click(web, slack_api, REQUESTER, ui.APPLY, buttons(report)[ui.APPLY])[0] == 200
    run_jobs(redis)
    (request,) = [c.args for c in slack_api.calls_to("chat.postMessage")[before:]]
    validate_message(request)
    return request


def approve(web, slack_api, redis, request: dict, user: str = ALICE) -> tuple[int, str]:
    out = click(web, slack_api, user, ui.APPROVE, buttons(request)[ui.APPROVE])
    run_jobs(redis)
    return out


def test_apply_approve_writes_once_verifies_and_updates_every_message(kube, web, slack_api, redis):
    report = diagnose(web, slack_api, redis)
    assert set(buttons(report)) == {ui.PREVIEW, ui.APPLY}
    request = request_apply(web, slack_api, redis, report)
    text = json.dumps(request["blocks"])
    assert f"<@{REQUESTER}> asks to apply `FIX-TARGETPORT`" in text
    assert "-    targetPort: 8080\\n+    targetPort: 80" in text and f"<@{ALICE}>" in text and "<!subteam^S0SRE>" in text
    assert writes(kube) == []

    approve(web, slack_api, redis, request)
    (write,) = writes(kube)
    assert write.user_agent.startswith(f"lbhealth-fix/FIX-TARGETPORT (approver={ALICE}; job=")
    assert kube.get_object("Service", "shop", "web")["spec"]["ports"][0]["targetPort"] == 80
    result = slack_api.calls_to("chat.postMessage")[-1].args
    validate_message(result)
    blob = json.dumps(result["blocks"])
    assert "Applied after" in blob and "passes on a fresh diagnosis" in blob
    updates = [c.args for c in slack_api.calls_to("chat.update")]
    for u in updates:
        validate_message(u)
    request_ts = next(ts for (ch, ts), m in slack_api.messages.items() if "asks to apply" in json.dumps(m["blocks"]))
    request_now = slack_api.messages[("C111", request_ts)]
    assert set(buttons(request_now)) == {ui.ROLLBACK}  # no stale Approve / Reject left
    root = updates[-1]
    assert "`FIX-TARGETPORT`: applied after" in json.dumps(root["blocks"])
    events = [e["event"] for e in audit.read(redis)]
    assert events[:2] == ["request", "approval"] and "apply" in events and "verification" in events


def test_preview_posts_the_dry_run_diff_escaped_and_writes_nothing(kube, web, slack_api, redis):
    svc = kube.get_object("Service", "shop", "web")
    svc["spec"]["ports"][0]["name"] = "```<!channel> <https://evil.example|login>"  # next to targetPort in the diff
    kube.add(svc)
    report = diagnose(web, slack_api, redis)
    click(web, slack_api, EVE, ui.PREVIEW, buttons(report)[ui.PREVIEW])
    run_jobs(redis)
    preview = slack_api.calls_to("chat.postMessage")[-1].args
    validate_message(preview)
    blob = json.dumps(preview["blocks"])
    assert "Server-side dry run: nothing was written" in blob
    assert "&lt;!channel&gt;" in blob and "<!channel>" not in blob and "<https://evil" not in blob
    assert blob.count("```") == 2  # the diff's own block, not closed from inside
    assert writes(kube) == [] and [r.query.get("dryRun") for r in kube.calls(verb="patch")] == ["All"]
    assert buttons(preview) == {}


def test_twenty_concurrent_approvals_and_double_clicks_write_exactly_once(kube, web, slack_api, redis):
    slack_api.usergroups["S0SRE"] = [f"U0SRE{i:02d}" for i in range(20)]
    request = request_apply(web, slack_api, redis, diagnose(web, slack_api, redis))
    value = buttons(request)[ui.APPROVE]
    urls = [slack_api.response_url() for _ in range(21)]
    users = [f"U0SRE{i:02d}" for i in range(20)] + [ALICE]
    threads = [threading.Thread(target=click, args=(web, slack_api, u, ui.APPROVE, value), kwargs={"response_url": url})
               for u, url in zip(users, urls, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    click(web, slack_api, ALICE, ui.APPROVE, value)  # and one more, later
    run_jobs(redis)
    assert len(writes(kube)) == 1
    refused = wait_until(lambda: [u for u in urls if replies_to(slack_api, u)] if sum(
        1 for u in urls if replies_to(slack_api, u)) == 20 else None, timeout=30)
    assert len(refused) == 20
    assert all("already approved by <@" in answer(slack_api, u) for u in refused)
    assert [e["event"] for e in audit.read(redis)].count("approval") == 1


def test_the_requester_cannot_approve_their_own_request_even_as_an_approver(kube, web, slack_api, redis, config_file):
    cfg = json.loads(config_file.read_text())
    cfg["approvers"].append(REQUESTER)
    config_file.write_text(json.dumps(cfg))
    from bot.settings import _load_cached

    _load_cached.cache_clear()
    slack_api.usergroups["S0SRE"] = [CAROL]
    request = request_apply(web, slack_api, redis, diagnose(web, slack_api, redis))
    _, url = approve(web, slack_api, redis, request, user=REQUESTER)
    assert "two-person rule" in answer(slack_api, url)
    _, url = approve(web, slack_api, redis, request, user=EVE)
    assert "You are not an approver" in answer(slack_api, url)
    assert writes(kube) == []
    assert [e["result"] for e in audit.read(redis) if e["event"] == "refusal"] == ["policy", "policy"]
    approve(web, slack_api, redis, request, user=CAROL)  # a member of an approver user group
    assert len(writes(kube)) == 1


def test_tampered_and_unknown_values_are_refused_and_write_nothing(kube, web, slack_api, redis):
    request = request_apply(web, slack_api, redis, diagnose(web, slack_api, redis))
    rid, digest = buttons(request)[ui.APPROVE].split(":")
    for value, why in [(f"{rid}:{'0' * 16}", "superseded by a newer one"), ("../../etc", "unknown"),
                       (f"{'a' * 32}:{digest}", "unknown"), (rid, "unknown")]:
        status, url = click(web, slack_api, ALICE, ui.APPROVE, value)
        assert status == 200 and why in answer(slack_api, url), value
    status, url = click(web, slack_api, ALICE, ui.APPLY, "f" * 32)
    assert "unknown" in answer(slack_api, url)
    run_jobs(redis)
    assert writes(kube) == [] and Records(redis).request(rid)["state"] == "pending"


def test_an_expired_request_says_so_and_its_message_loses_its_buttons(kube, web, slack_api, redis):
    request = request_apply(web, slack_api, redis, diagnose(web, slack_api, redis))
    rid = buttons(request)[ui.APPROVE].split(":")[0]
    redis.hset(f"{PREFIX}req:{rid}", "expires_at", repr(time.time() - 1))
    _, url = approve(web, slack_api, redis, request)
    assert "expired" in answer(slack_api, url)
    updated = [c.args for c in slack_api.calls_to("chat.update") if "Expired" in json.dumps(c.args["blocks"])]
    assert updated and buttons(updated[-1]) == {}
    assert writes(kube) == []


def test_drift_between_preview_and_approval_is_refused_and_nothing_is_written(kube, web, slack_api, redis):
    request = request_apply(web, slack_api, redis, diagnose(web, slack_api, redis))
    svc = kube.get_object("Service", "shop", "web")
    svc["metadata"]["labels"] = {**(svc["metadata"].get("labels") or {}), "touched": "yes"}
    kube.add(svc)  # someone edits the Service: a new resourceVersion
    approve(web, slack_api, redis, request)
    assert writes(kube) == []
    result = json.dumps(slack_api.calls_to("chat.postMessage")[-1].args["blocks"])
    assert "Refused at apply time" in result and "changed since the preview" in result


def test_a_fix_not_enabled_shows_preview_but_no_apply(kube, web, slack_api, redis, config_file):
    cfg = json.loads(config_file.read_text())
    cfg["enabled_fixes"] = []
    config_file.write_text(json.dumps(cfg))
    from bot.settings import _load_cached

    _load_cached.cache_clear()
    report = diagnose(web, slack_api, redis)
    assert set(buttons(report)) == {ui.PREVIEW}
    assert "FIX-TARGETPORT is not enabled for namespace shop on live" in json.dumps(report["blocks"])
    offer = buttons(report)[ui.PREVIEW]
    _, url = click(web, slack_api, REQUESTER, ui.APPLY, offer)  # a crafted Apply click
    assert "is not enabled" in answer(slack_api, url)
    run_jobs(redis)
    assert writes(kube) == []


def test_kill_switch_turns_every_apply_off_at_once(kube, web, slack_api, redis):
    request = request_apply(web, slack_api, redis, diagnose(web, slack_api, redis))
    redis.set("lbhealth:fixes:kill-switch", "1")
    _, url = approve(web, slack_api, redis, request)
    assert "kill switch" in answer(slack_api, url)
    assert writes(kube) == []


def test_rollback_goes_through_the_same_approval(kube, web, slack_api, redis):
    request = request_apply(web, slack_api, redis, diagnose(web, slack_api, redis))
    approve(web, slack_api, redis, request)
    applied = next(c.args for c in reversed(slack_api.calls_to("chat.update")) if ui.ROLLBACK in buttons(c.args))
    before = len(slack_api.calls_to("chat.postMessage"))
    click(web, slack_api, ALICE, ui.ROLLBACK, buttons(applied)[ui.ROLLBACK])
    run_jobs(redis)
    (rollback,) = [c.args for c in slack_api.calls_to("chat.postMessage")[before:]]
    validate_message(rollback)
    assert "asks to roll back" in json.dumps(rollback["blocks"])
    _, url = approve(web, slack_api, redis, rollback, user=ALICE)  # Alice asked: someone else approves
    assert "two-person rule" in answer(slack_api, url)
    slack_api.usergroups["S0SRE"] = [CAROL]
    approve(web, slack_api, redis, rollback, user=CAROL)
    assert len(writes(kube)) == 2
    assert kube.get_object("Service", "shop", "web")["spec"]["ports"][0]["targetPort"] == 8080
    assert "Rolled back after" in json.dumps(slack_api.calls_to("chat.postMessage")[-1].args["blocks"])
    assert "rollback" in [e["event"] for e in audit.read(redis)]


def test_slack_down_while_applying_writes_once_and_posts_when_slack_is_back(kube, web, slack_api, redis):
    request = request_apply(web, slack_api, redis, diagnose(web, slack_api, redis))
    slack_api.fail("chat.update", error="internal_error", times=-1)
    slack_api.fail("chat.postMessage", error="internal_error", times=-1)
    approve(web, slack_api, redis, request)
    assert len(writes(kube)) == 1
    posted = len(slack_api.calls_to("chat.postMessage"))
    slack_api.clear_failures()
    def results() -> list:
        return [c.args for c in slack_api.calls_to("chat.postMessage")[posted - 1:]
                if "Applied after" in json.dumps(c.args) and (c.response or {}).get("ok")]  # taken by Slack

    deadline = time.monotonic() + 20
    while not results() and time.monotonic() < deadline:  # the job's retry is due after its interval
        time.sleep(0.3)
        run_jobs(redis)
    assert len(writes(kube)) == 1
    assert len(results()) == 1


def test_slack_down_while_the_request_is_posted_opens_one_request(kube, web, slack_api, redis):
    report = diagnose(web, slack_api, redis)
    slack_api.fail("chat.postMessage", error="internal_error", times=1)
    before = len(slack_api.calls_to("chat.postMessage"))
    click(web, slack_api, REQUESTER, ui.APPLY, buttons(report)[ui.APPLY])
    run_jobs(redis)

    def posted() -> list:
        return [c for c in slack_api.calls_to("chat.postMessage")[before:] if (c.response or {}).get("ok")]

    deadline = time.monotonic() + 20
    while not posted() and time.monotonic() < deadline:  # the job's retry is due after its interval
        time.sleep(0.3)
        run_jobs(redis)
    found = posted()
    assert len(found) == 1 and ui.APPROVE in buttons(found[0].args)
    assert [e["event"] for e in audit.read(redis)].count("request") == 1


def test_a_job_rerun_after_a_crash_mid_write_does_not_write_again_and_says_so(kube, web, slack_api, redis):
    """A worker killed after its PATCH and before recording it: the re-run is refused by the precondition."""
    from bot.approvals_jobs import EXECUTE_JOB, enqueue

    request = request_apply(web, slack_api, redis, diagnose(web, slack_api, redis))
    rid = buttons(request)[ui.APPROVE].split(":")[0]
    svc = kube.get_object("Service", "shop", "web")
    svc["spec"]["ports"][0]["targetPort"] = 80  # what the killed run wrote
    kube.add(svc)
    Records(redis).update(rid, state="applying", decided_by=ALICE)
    enqueue(redis, "lbhealth", EXECUTE_JOB, {"id": rid}, f"fix-execute-{rid}")
    run_jobs(redis)
    assert writes(kube) == []
    result = json.dumps(slack_api.calls_to("chat.postMessage")[-1].args["blocks"])
    assert "An earlier attempt of this job stopped while applying" in result


def test_cloud_fix_with_cloud_writes_off_shows_the_command_and_no_apply(redis, slack_api, settings):
    """FIX-SG-RULE on the AWS security-group example: the command is in the report, no Apply, a crafted click refused."""
    from types import SimpleNamespace

    from bot import render
    from bot.approvals_jobs import attach_fix_buttons
    from bot.queue import DiagnosisJob
    from checks.model import Target
    from checks.runner import diagnose as run
    from tests.bot.conftest import EXAMPLES

    report, _ = run(Target.parse(SG_TARGET), sources=[str(EXAMPLES / "security-group-blocks-nlb")], probe=False)
    assert "FIX-SG-RULE" in [f.fix.id for f in report.findings if f.fix]
    cfg = dict(FIX_CONFIG, enabled_fixes=["FIX-SG-RULE"])
    path = settings.lbhealth_config
    path.write_text(json.dumps(cfg))
    from bot.settings import _load_cached

    _load_cached.cache_clear()
    messages, _ = render.slack_report(report)
    job = DiagnosisJob(namespace="store", service="catalog", cluster="live", channel="C111", root_ts="1.1")
    attach_fix_buttons(SimpleNamespace(settings=settings, redis=redis), job, "job1", report, messages)
    for m in messages:
        validate_message(m)
    blob = json.dumps(messages)
    assert "aws ec2 authorize-security-group-ingress" in blob and "cloud writes are off" in blob
    assert ui.APPLY not in {k for m in messages for k in buttons(m)}
