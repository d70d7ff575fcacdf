"""The access and approval policy (bot.policy): the rules themselves, then commands and alarms through
the real web app and receivers (signed requests, real Redis, the fake Slack Web API)."""

from __future__ import annotations

import json
import time

import pytest

from bot.policy import Access, Approvals, RateLimiter, UserGroups
from bot.queue import get_queue
from bot.settings import ConfigError, FileConfig, load_file_config
from bot.slack.client import web_client
from tests.bot.conftest import EXAMPLES, command_body, post, signed_headers, wait_until


def config(**raw) -> FileConfig:
    return FileConfig.model_validate(raw)


# ---- the rules -------------------------------------------------------------------------------------


def test_unset_access_keeps_todays_behaviour():
    cfg = config(clusters=[{"name": "prod"}])
    access = Access(cfg)
    assert access.command(team_id="T1", channel_id="C1", cluster=cfg.clusters[0])
    assert access.command(team_id=None, channel_id=None, cluster=None)
    assert access.clusters_here("CANY") == ["prod"]
    assert access.alarm_channel("prod", "CANY")


def test_channels_and_teams_restrict_and_answer_alike_for_unknown_clusters():
    cfg = config(clusters=[{"name": "prod", "channels": ["C0INC"]}, {"name": "lab"}], access={"team_ids": ["T0OK"]})
    access = Access(cfg)
    prod = cfg.clusters[0]
    assert access.command(team_id="T0OK", channel_id="C0INC", cluster=prod)
    denied = access.command(team_id="T0OK", channel_id="C0RANDOM", cluster=prod)
    assert not denied and "`prod` is not a cluster that can be diagnosed from this channel" in denied.reason
    assert "lab" not in denied.reason
    assert not access.command(team_id="T0EVIL", channel_id="C0INC", cluster=prod)
    assert access.clusters_here("C0RANDOM") == ["lab"] and access.clusters_here("C0INC") == ["prod", "lab"]
    assert not access.alarm_channel("prod", "C0ALARMS") and access.alarm_channel("prod", "C0INC")


def test_config_refuses_ids_that_are_not_slack_ids_and_unknown_fixes(tmp_path):
    for bad, why in [({"approvers": ["@alice"]}, "neither a Slack user ID"),
                     ({"enabled_fixes": ["FIX-EVERYTHING"]}, "not a fix ID"),
                     ({"clusters": [{"name": "p", "channels": ["#incidents"]}]}, "not a Slack channel ID"),
                     ({"clusters": [{"name": "p", "channels": ["C1A"], "channel": "C2B"}]}, "not in its channels"),
                     ({"clusters": [{"name": "p", "channels": ["C1A"]}], "alarm_routes": [{"cluster": "p", "channel": "C2B"}]},
                      "not one of its channels"),
                     ({"access": {"team_ids": ["acme"]}}, "team"),
                     ({"access": {"rate_limits": {"commands_per_user": 0}}}, "greater than or equal to 1")]:
        path = tmp_path / f"c{abs(hash(why))}.yaml"
        path.write_text(json.dumps(bad), encoding="utf-8")
        with pytest.raises(ConfigError, match=why):
            load_file_config(path)


def test_approvals_two_person_scopes_groups_kill_switch_and_cloud(slack_api):
    slack_api.usergroups["S0SRE"] = ["U0CAROL"]
    cfg = config(
        approvers=["U0ALICE", "S0SRE"], enabled_fixes=["FIX-TARGETPORT", "FIX-SG-RULE"],
        approval={"scopes": [{"cluster": "prod", "namespace": "pay*", "approvers": ["U0BOB"],
                              "enabled_fixes": ["FIX-TRAFFIC-POLICY"]}]})
    groups = UserGroups(web_client("xoxb-test", slack_api.url))
    rules = Approvals(cfg)
    ok = dict(fix_id="FIX-TARGETPORT", cluster="prod", namespace="shop", cloud=False, groups=groups)
    assert rules.can_approve(user="U0ALICE", requester="U0DAN", **ok)
    assert rules.can_approve(user="U0CAROL", requester="U0DAN", **ok)  # through the user group
    own = rules.can_approve(user="U0ALICE", requester="U0ALICE", **ok)
    assert not own and "two-person rule" in own.reason
    stranger = rules.can_approve(user="U0EVE", requester="U0DAN", **ok)
    assert not stranger and "not an approver" in stranger.reason and "<!subteam^S0SRE>" in stranger.reason
    # a scope replaces approvers and fixes for what it matches
    assert rules.scope("prod", "payments").approvers == ("U0BOB",)
    assert not rules.can_apply("FIX-TARGETPORT", "prod", "payments", cloud=False)
    assert rules.can_apply("FIX-TRAFFIC-POLICY", "prod", "payments", cloud=False)
    assert rules.can_apply("FIX-TARGETPORT", "staging", "payments", cloud=False)
    # cloud writes off by default; kill switch beats everything
    cloud = rules.can_apply("FIX-SG-RULE", "prod", "shop", cloud=True)
    assert not cloud and "cloud writes are off" in cloud.reason
    assert Approvals(config(enabled_fixes=["FIX-SG-RULE"], cloud_writes=True)).can_apply("FIX-SG-RULE", None, "x", cloud=True)
    killed = Approvals(cfg, killed=True).can_approve(user="U0ALICE", requester="U0DAN", **ok)
    assert not killed and "kill switch" in killed.reason
    assert not Approvals(config(approvers=[], enabled_fixes=["FIX-TARGETPORT"])).can_approve(
        user="U0ALICE", requester="U0DAN", **ok)


def test_user_groups_are_cached_briefly_and_unknown_membership_grants_nothing(slack_api):
    slack_api.usergroups["S0SRE"] = ["U0CAROL"]
    now = [0.0]
    groups = UserGroups(web_client("xoxb-test", slack_api.url), ttl=30, clock=lambda: now[0])
    assert groups.contains(["S0SRE"], "U0CAROL") and groups.contains(["S0SRE"], "U0CAROL")
    assert len(slack_api.calls_to("usergroups.users.list")) == 1
    slack_api.usergroups["S0SRE"] = []
    now[0] = 31.0
    assert not groups.contains(["S0SRE"], "U0CAROL")  # removed from the group: refused after the TTL
    cfg = config(approvers=["S0GONE"], enabled_fixes=["FIX-TARGETPORT"])
    d = Approvals(cfg).can_approve(user="U0CAROL", requester="U0DAN", fix_id="FIX-TARGETPORT", cluster=None,
                                   namespace="shop", cloud=False, groups=groups)
    assert not d and "no_such_subteam" in d.reason


def test_rate_limiter_counts_per_window_across_clients(redis):
    cfg = config(access={"rate_limits": {"commands_per_user": 3, "window_seconds": 30}})
    a, b = RateLimiter(redis), RateLimiter(redis)  # two processes share the counters
    assert [bool(x.command(cfg, "U1")) for x in (a, b, a)] == [True, True, True]
    over = b.command(cfg, "U1")
    assert not over and 1 <= over.retry_after <= 30 and "Try again in" in over.reason
    assert a.command(cfg, "U2")  # per user
    redis.expire("lbhealth:rate:user:U1", 1)  # the window ends
    time.sleep(1.1)
    assert a.command(cfg, "U1")  # a new window


# ---- commands through the web app ------------------------------------------------------------------


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "lbhealth.yaml"
    path.write_text(json.dumps({
        "clusters": [
            {"name": "prod", "default": True, "channels": ["C111"], "sources": [str(EXAMPLES / "targetport-mismatch")]},
            {"name": "secret-lab", "channels": ["C0LAB"], "user_groups": ["S0LAB"],
             "sources": [str(EXAMPLES / "healthy")]},
            {"name": "staging", "sources": [str(EXAMPLES / "healthy")]},
        ],
        "access": {"team_ids": ["T111"], "rate_limits": {"commands_per_user": 3}},
    }), encoding="utf-8")
    return path


def send(web, slack_api, text: str, **kw):
    body = command_body(text, response_url=kw.pop("response_url", None) or slack_api.response_url(), **kw)
    return post(web.url + "/slack/events", body, signed_headers(body))


def send_team(web, slack_api, text: str, team: str):
    body = command_body(text, response_url=slack_api.response_url()).replace("team_id=T111", f"team_id={team}")
    return post(web.url + "/slack/events", body, signed_headers(body))


def test_channel_and_team_rules_answer_in_the_ack_and_queue_nothing(web, slack_api, redis):
    status, body, _ = send(web, slack_api, "shop/web", channel="C0RANDOM", trigger_id="t1")
    reply = json.loads(body)
    assert status == 200 and reply["response_type"] == "ephemeral"
    assert "`prod` is not a cluster that can be diagnosed from this channel" in reply["text"]
    status, body, _ = send(web, slack_api, "shop/web --cluster nope", channel="C0RANDOM", trigger_id="t2")
    blob = body.decode()
    assert "`nope` is not a cluster that can be diagnosed from this channel" in blob
    assert "secret-lab" not in blob and "prod" not in blob  # the others are never listed
    status, body, _ = send(web, slack_api, "help", channel="C0RANDOM", trigger_id="t3")
    assert "Clusters: staging" in body.decode() and "secret-lab" not in body.decode()
    status, body, _ = send_team(web, slack_api, "shop/web", "T0OTHER")
    assert "does not serve this Slack workspace" in json.loads(body)["text"]
    time.sleep(0.3)
    assert slack_api.calls_to("chat.postMessage") == [] and get_queue(redis).count == 0


def test_allowed_channel_queues(web, slack_api, redis):
    assert send(web, slack_api, "shop/web", channel="C111")[0] == 200
    wait_until(lambda: get_queue(redis).count == 1)


def test_user_group_restriction_is_checked_after_the_ack(web, slack_api, redis):
    slack_api.usergroups["S0LAB"] = ["U0LABBER"]
    url = slack_api.response_url()
    send(web, slack_api, "shop/web --cluster secret-lab", channel="C0LAB", user="U111", response_url=url,
         trigger_id="t-out")
    (reply,) = slack_api.wait_for("response_url", timeout=30, where=lambda c: c.path == "/response/" + url.rsplit("/", 1)[1])
    assert "`secret-lab` is not a cluster that can be diagnosed from this channel" in reply.args["text"]
    assert get_queue(redis).count == 0
    send(web, slack_api, "shop/web --cluster secret-lab", channel="C0LAB", user="U0LABBER", trigger_id="t-in")
    wait_until(lambda: get_queue(redis).count == 1)


def test_per_user_rate_limit_bounds_new_work_with_a_clear_reply(web, slack_api, redis):
    for i, svc in enumerate(["a", "b", "c"]):
        send(web, slack_api, f"shop/{svc}", channel="C111", trigger_id=f"t{i}")
    wait_until(lambda: get_queue(redis).count == 3)
    url = slack_api.response_url()
    send(web, slack_api, "shop/d", channel="C111", trigger_id="t4", response_url=url)
    send(web, slack_api, "shop/d", channel="C111", trigger_id="t4", response_url=url)  # Slack's retry: not counted again
    (reply,) = slack_api.wait_for("response_url", timeout=30, where=lambda c: c.path == "/response/" + url.rsplit("/", 1)[1])
    assert "You have started 3 diagnoses in the last 60 s" in reply.args["text"]
    assert reply.args["response_type"] == "ephemeral"
    send(web, slack_api, "shop/d", channel="C111", user="U222", trigger_id="t5")  # someone else is not limited
    wait_until(lambda: get_queue(redis).count == 4)
    time.sleep(0.2)
    assert len(slack_api.calls_to("response_url")) == 1


# ---- alarms through the receivers ------------------------------------------------------------------


MAPPING = {"services": ["shop/web"], "cluster": "prod", "how": "CLB 127.0.0.80 -> Service shop/web", "why": None, "lb": {}}


def alarm_config(tmp_path, **raw) -> object:
    from tests.webhooks.conftest import make_settings

    path = tmp_path / "alarms.yaml"
    path.write_text(json.dumps(raw), encoding="utf-8")
    return make_settings(lbhealth_config=path)


def tencent(h, vip: str, port: int, session: str):
    from tests.webhooks import payloads as p
    from tests.webhooks.conftest import TENCENT_SECRET

    dims = {"protocol": "tcp", "vip": vip, "vport": port, "objId": f"{vip}#{port}#tcp"}
    r = h.client.post(f"/webhooks/tencent/{TENCENT_SECRET}", data=json.dumps(p.tencent_clb(session=session, dims=dims)),
                      content_type="application/json")
    h.drain()
    return r


@pytest.fixture
def alarm_harness(request, redis_url, tmp_path):
    from tests.fakes.slack_api import FakeSlackAPI
    from tests.webhooks.conftest import make_harness
    from tests.webhooks.sns_signing import Signer

    api = FakeSlackAPI()
    harnesses = []

    def make(mapping, **raw):
        h = make_harness(redis_url, Signer(), api, settings=alarm_config(tmp_path, **raw), mapping=mapping)
        harnesses.append(h)
        return h

    yield make
    for h in harnesses:
        h.hooks.desk.close()
        h.follow.stop()
        h.redis.close()
    api.stop()


def test_alarm_for_a_cluster_is_never_posted_outside_its_channels(alarm_harness):
    h = alarm_harness(MAPPING,
                      clusters=[{"name": "prod", "channels": ["C0INC"]}], alarm_channel="C0ALARMS")
    assert tencent(h, "127.0.0.80", 80, "s1").status_code == 200
    assert h.slack.calls_to("chat.postMessage") == [] and h.rq_jobs() == []


def test_sender_rate_limit_bounds_new_incidents_and_still_answers_every_repeat(alarm_harness):
    h = alarm_harness(MAPPING,
                      clusters=[{"name": "prod", "channel": "C0INC"}], access={"rate_limits": {"incidents_per_sender": 2}})
    answers = [tencent(h, f"127.0.0.{80 + i}", 80, f"s{i}").status_code for i in range(4)]
    answers += [tencent(h, "127.0.0.80", 80, f"retry-{i}").status_code for i in range(30)]  # repeats of incident 1
    assert answers == [200] * 34
    roots = [c for c in h.slack.calls_to("chat.postMessage") if "thread_ts" not in c.args]
    assert len(roots) == 2 and {c.args["channel"] for c in roots} == {"C0INC"}
    assert len(h.rq_jobs()) == 1  # both admitted incidents map to shop/web: one job per Service
    incidents = [k for k in h.incident_keys() if h.redis.type(k) == b"hash"]
    errors = [h.redis.hget(k, "error").decode() for k in incidents if h.redis.hget(k, "error")]
    assert len(errors) == 2 and all("opened more than 2 incidents" in e for e in errors)
