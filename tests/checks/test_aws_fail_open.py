"""AWS-FAIL-OPEN: every registered target unhealthy -> the load balancer routes to all of them."""

from __future__ import annotations

from checks.model import Status
from tests import aws_factories as a
from tests.factories import run_check


def test_warns_plainly_when_every_target_is_unhealthy():
    state = a.world(lb_type="application", target_type="instance")
    a.set_health(
        state,
        [
            a.thd(
                a.INSTANCE_1,
                30080,
                "unhealthy",
                "Target.ResponseCodeMismatch",
                "Health checks failed with these codes: [404]",
            ),
            a.thd(
                a.INSTANCE_2,
                30080,
                "unhealthy",
                "Target.ResponseCodeMismatch",
                "Health checks failed with these codes: [404]",
            ),
        ],
    )
    [finding] = run_check("AWS-FAIL-OPEN", state)
    assert finding.status == Status.WARN
    assert "routes requests to all of them" in finding.summary
    assert "latent" in finding.summary
    assert "2 of 2" in finding.evidence[0]
    # the reason every target gives says what requests meet meanwhile
    assert "every unhealthy target reports Target.ResponseCodeMismatch: they answer HTTP" in finding.evidence[-1]


def test_timeouts_say_requests_most_likely_fail_too():
    state = a.world(lb_type="application", target_type="instance")
    a.set_health(state, [a.thd(a.INSTANCE_1, 30080, "unhealthy", "Target.Timeout"), a.thd(a.INSTANCE_2, 30080, "unhealthy", "Target.Timeout")])
    [finding] = run_check("AWS-FAIL-OPEN", state)
    assert "requests sent to them most likely time out too" in finding.evidence[-1]


def test_an_empty_target_group_is_not_called_passing_targets():
    state = a.world()
    a.set_health(state, [])
    [finding] = run_check("AWS-FAIL-OPEN", state)
    assert finding.status == Status.PASS
    assert "no target is registered" in finding.summary and "some targets pass" not in finding.summary


def test_nlb_wording():
    state = a.world()
    a.set_health(state, [a.thd("127.0.0.2", 80, "unhealthy", "Target.FailedHealthChecks")])
    [finding] = run_check("AWS-FAIL-OPEN", state)
    assert finding.status == Status.WARN
    assert "NLB fails open" in finding.summary


def test_passes_when_one_target_is_healthy():
    state = a.world(target_type="instance")
    a.set_health(
        state, [a.thd(a.INSTANCE_1, 30080, "unhealthy", "Target.Timeout"), a.thd(a.INSTANCE_2, 30080)]
    )
    [finding] = run_check("AWS-FAIL-OPEN", state)
    assert finding.status == Status.PASS


def test_skips_without_aws_data():
    state = a.world()
    state.skipped_reads["aws.elbv2"] = "no AWS credentials found; AWS checks skipped"
    [finding] = run_check("AWS-FAIL-OPEN", state)
    assert finding.status == Status.SKIP
