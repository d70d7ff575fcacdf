"""AWS-TARGET-HEALTH: unhealthy targets with their reason, tied to pods/nodes; membership of ip groups."""

from __future__ import annotations

from checks.model import Status
from tests import aws_factories as a
from tests import factories as f
from tests.factories import run_check


def test_passes_when_all_healthy():
    [finding] = run_check("AWS-TARGET-HEALTH", a.world())
    assert finding.status == Status.PASS
    assert "pod shop/web-1" in finding.evidence[0]


def test_response_code_mismatch_tied_to_pod_with_reason_in_words():
    state = a.world(lb_type="application")
    a.set_health(
        state,
        [
            a.thd(
                "127.0.0.2",
                80,
                "unhealthy",
                "Target.ResponseCodeMismatch",
                "Health checks failed with these codes: [404]",
            )
        ],
    )
    [finding] = run_check("AWS-TARGET-HEALTH", state)
    assert finding.status == Status.FAIL
    assert "Target.ResponseCodeMismatch" in finding.summary
    assert "not one of the success codes (matcher 200)" in finding.summary
    assert "127.0.0.2:80 = pod shop/web-1 (node node-1, ready)" in finding.evidence[0]
    assert "[404]" in finding.evidence[0]
    assert set(finding.supports) >= {"healthcheck-path", "app-error", "targetport"}
    assert "describe-target-health" in finding.next_step


def test_timeout_on_instance_targets_tied_to_nodes():
    state = a.world(target_type="instance")
    a.set_health(
        state,
        [
            a.thd(a.INSTANCE_1, 30080, "unhealthy", "Target.Timeout", "Request timed out"),
            a.thd(a.INSTANCE_2, 30080, "healthy"),
        ],
    )
    findings = run_check("AWS-TARGET-HEALTH", state)
    [fail] = [x for x in findings if x.status == Status.FAIL]
    assert fail.summary.startswith("1 of 2 target(s)")
    assert "node node-1 (Ready)" in fail.evidence[0]
    assert {
        "network-sg",
        "network-acl",
        "network-policy",
        "targetport",
        "listen-localhost",
        "kube-proxy",
    } <= set(fail.supports)


def test_initial_is_warn_still_checking():
    state = a.world()
    a.set_health(state, [a.thd("127.0.0.2", 80, "initial", "Elb.InitialHealthChecking")])
    [finding] = run_check("AWS-TARGET-HEALTH", state)
    assert finding.status == Status.WARN
    assert "still being checked" in finding.summary


def test_ready_pod_missing_from_ip_group_and_stale_ip():
    pod2 = f.pod("web-2", ip="127.0.0.3", node="node-1")
    state = a.world(extra_objects=(pod2,))
    a.set_health(state, [a.thd("127.0.0.2", 80), a.thd("127.0.0.9", 80, "unhealthy", "Target.Timeout")])
    findings = run_check("AWS-TARGET-HEALTH", state)
    summaries = {x.summary: x for x in findings}
    missing = next(x for s, x in summaries.items() if "not registered" in s)
    assert missing.status == Status.FAIL
    assert "pod shop/web-2 IP 127.0.0.3" in missing.evidence[0]
    assert "controller" in missing.supports
    stale = next(x for s, x in summaries.items() if "stale" in s)
    assert stale.status == Status.WARN
    assert "127.0.0.9:80 = no pod" in stale.evidence[0]


def test_empty_group_fails():
    state = a.world()
    a.set_health(state, [])
    findings = run_check("AWS-TARGET-HEALTH", state)
    assert any(x.status == Status.FAIL and "no registered targets" in x.summary for x in findings)


def test_not_in_use_fails():
    state = a.world()
    a.set_health(state, [a.thd("127.0.0.2", 80, "unused", "Target.NotInUse")])
    findings = run_check("AWS-TARGET-HEALTH", state)
    assert any(x.status == Status.FAIL and "Target.NotInUse" in x.summary for x in findings)


def test_skip_when_target_health_skipped_or_not_aws():
    state = a.world()
    state.skipped_reads["aws.target_health"] = "no target group of this Service was found (see AWS-MAP)"
    [finding] = run_check("AWS-TARGET-HEALTH", state)
    assert finding.status == Status.SKIP
    assert "AWS-MAP" in finding.summary
    tencent = f.make_state(f.service(annotations={"service.kubernetes.io/loadbalance-id": "lb-1"}))
    [finding] = run_check("AWS-TARGET-HEALTH", tencent)
    assert finding.status == Status.SKIP


def test_error_names_iam_action():
    state = a.world()
    state.read_errors["aws.target_health"] = (
        "AccessDenied: grant IAM action elasticloadbalancing:DescribeTargetHealth ..."
    )
    [finding] = run_check("AWS-TARGET-HEALTH", state)
    assert finding.status == Status.ERROR
    assert "elasticloadbalancing:DescribeTargetHealth" in finding.summary


def test_odd_input_does_not_crash():
    state = a.world()
    a.set_health(state, [{"Target": {}}, {"TargetHealth": None}, {}])
    findings = run_check("AWS-TARGET-HEALTH", state, odd=True)
    assert all(x.status != Status.ERROR for x in findings)


def test_local_policy_nodes_without_pods_fail_by_design_not_as_a_fault():
    state = a.world(target_type="instance", external_traffic_policy="Local")
    a.set_health(
        state,
        [
            a.thd(a.INSTANCE_1, 30080, "healthy", hc_port="32000"),
            a.thd(
                a.INSTANCE_2,
                30080,
                "unhealthy",
                "Target.FailedHealthChecks",
                "Health checks failed",
                hc_port="32000",
            ),
        ],
    )
    [finding] = run_check("AWS-TARGET-HEALTH", state)
    assert finding.status == Status.WARN
    assert "fail by design" in finding.summary
    assert finding.supports == ("traffic-policy",)
    assert "node node-2" in finding.evidence[0]
    assert finding.evidence[-1] == "nodes with a ready pod: node-1"


def test_local_policy_node_with_a_pod_still_fails():
    state = a.world(target_type="instance", external_traffic_policy="Local")
    a.set_health(
        state,
        [
            a.thd(a.INSTANCE_1, 30080, "unhealthy", "Target.FailedHealthChecks"),
            a.thd(a.INSTANCE_2, 30080, "unhealthy", "Target.FailedHealthChecks"),
        ],
    )
    findings = run_check("AWS-TARGET-HEALTH", state)
    assert {x.status for x in findings} == {Status.FAIL, Status.WARN}
    [fail] = [x for x in findings if x.status == Status.FAIL]
    assert "node node-1" in fail.evidence[0]
