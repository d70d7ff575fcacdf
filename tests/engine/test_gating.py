"""The runner gates a check on its declared reads: a required read that failed or is absent stands in
for the check (which is never called), an optional one does not; the words name the grant or the command."""

from __future__ import annotations

import json

from checks.collect import dump
from checks.model import Finding, Status, Target
from checks.registry import Registry, check
from checks.runner import run_checks
from tests import aws_factories as a
from tests import factories as f

DENIED_EVENTS = "forbidden: cannot list events in namespace shop — grant RBAC verb 'list' on resource 'events' (group core)"


def catalogue(*, optional: bool) -> Registry:
    """One check that must never run when it needs the events, and says so by crashing the test."""
    reg = Registry()
    declared = {"uses": ("k8s.events",)} if optional else {"reads": ("k8s.events",)}

    @check("K8S-EVENTS-ONLY", title="t", seed="s", registry=reg, **{"reads": (), **declared})
    def events_only(state):
        if not optional:
            raise AssertionError("called although the events it needs were not read")
        return Finding("K8S-EVENTS-ONLY", Status.PASS, "judged without the events")

    return reg


def dump_state(tmp_path, *docs) -> object:
    for i, doc in enumerate(docs):
        (tmp_path / f"{i}.json").write_text(json.dumps(doc))
    return dump.load_state(Target.parse("shop/web"), [str(tmp_path)], options={"offline": True})


def test_a_failed_required_read_is_an_error_naming_the_read_and_the_grant():
    state = f.make_state(f.service())
    state.read_errors["k8s.events"] = DENIED_EVENTS
    [finding] = run_checks(state, catalogue(optional=False).all())
    assert finding.status == Status.ERROR
    assert finding.summary == f"Could not read the events of namespace shop: {DENIED_EVENTS}"
    assert finding.next_step.startswith(
        "Grant RBAC verb 'list' on 'events' in namespace shop to the lbhealth worker's ServiceAccount "
        "(deploy/helm/lbhealth/templates/rbac-read.yaml), then re-run"
    )
    assert "`kubectl get events -n shop -o yaml`" in finding.next_step
    assert "k8s.events" not in finding.summary + finding.next_step


def test_a_failure_that_is_not_a_denial_says_to_retry_and_still_names_the_grant():
    state = f.make_state(f.service())
    state.read_errors["k8s.events"] = "no answer from the API server: timed out"
    [finding] = run_checks(state, catalogue(optional=False).all())
    assert finding.status == Status.ERROR
    assert finding.next_step.startswith("Re-run once the API answers (reading the events of namespace shop needs RBAC verb 'list'")


def test_a_required_read_absent_from_a_dump_is_a_skip_naming_the_command(tmp_path):
    state = dump_state(tmp_path, f.service(), f.pod())
    [finding] = run_checks(state, catalogue(optional=False).all())
    assert finding.status == Status.SKIP
    assert finding.summary.startswith("Not checked without the events of namespace shop: ")
    assert "kubectl get events -n shop -o yaml" in finding.summary + finding.next_step
    assert "k8s." not in finding.summary + finding.next_step


def test_an_optional_read_does_not_gate():
    failed = f.make_state(f.service())
    failed.read_errors["k8s.events"] = DENIED_EVENTS
    absent = f.make_state(f.service(), reads={"k8s.service"})
    for state in (failed, absent):
        [finding] = run_checks(state, catalogue(optional=True).all())
        assert (finding.status, finding.summary) == (Status.PASS, "judged without the events")


def aws_catalogue() -> Registry:
    reg = Registry()

    @check("AWS-NEEDS-HEALTH", title="t", seed="s", reads=("aws.elbv2", "aws.target_health"), uses=("k8s.pods",), registry=reg)
    def needs_health(state):
        raise AssertionError("called without the target health it needs")

    return reg


def test_a_cloud_read_denied_names_the_iam_action_and_the_policy_file():
    state = a.world()
    state.read_errors["aws.target_health"] = "AccessDenied: grant IAM action elasticloadbalancing:DescribeTargetHealth to the lbhealth worker's role"
    [finding] = run_checks(state, aws_catalogue().all())
    assert finding.status == Status.ERROR
    assert finding.summary.startswith("Could not read the target health the load balancer reports: AccessDenied")
    assert finding.next_step.startswith(
        "Grant IAM elasticloadbalancing:DescribeTargetHealth to the lbhealth worker's IAM role (deploy/iam-policy-read.json)"
    )


def test_a_cloud_read_absent_offline_names_the_cli_command():
    state = a.world()
    state.reads_done.discard("aws.target_health")
    state.options["offline"] = True
    state.skipped_reads["aws.target_health"] = "offline: the dump has no AWS CLI output for this"
    [finding] = run_checks(state, aws_catalogue().all())
    assert finding.status == Status.SKIP
    assert finding.summary.startswith(
        "Not checked without the target health the load balancer reports: the dump has no AWS CLI output for this; "
        "add the output of `aws elbv2 describe-target-health --region us-east-1 --target-group-arn arn:aws:"
    )
    assert finding.summary.endswith("to the dump")


def test_a_cloud_check_skips_when_its_cloud_is_not_in_play():
    tke = f.service(annotations={"service.kubernetes.io/loadbalance-id": "lb-abc"}, ingress_ip="127.0.5.1")
    state = f.make_state(tke, f.node(provider_id="qcloud:///800002/ins-abc"))
    [finding] = run_checks(state, aws_catalogue().all())
    assert (finding.status, finding.summary) == (Status.SKIP, "Not an AWS load balancer (this Service is on Tencent Cloud)")
