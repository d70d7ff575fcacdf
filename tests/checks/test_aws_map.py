"""AWS-MAP: the Service's load balancer and target groups are found, and how."""

from __future__ import annotations

from checks.model import Status
from tests import aws_factories as a
from tests import factories as f
from tests.factories import run_check


def test_passes_by_tags_and_names_the_lb():
    state = a.world()
    [finding] = run_check("AWS-MAP", state)
    assert finding.status == Status.PASS
    assert "NLB k8s-shop-web-0123456789" in finding.summary
    assert "by controller tags" in finding.summary
    assert any("service.k8s.aws/stack=shop/web" in e for e in finding.evidence)


def test_passes_by_target_group_binding():
    state = a.world(tag_service=False)
    tg = a.tg_of(state)
    state.k8s.add(a.target_group_binding(tg_arn=tg["TargetGroupArn"]))
    [finding] = run_check("AWS-MAP", state)
    assert finding.status == Status.PASS
    assert "TargetGroupBinding" in finding.summary


def test_alb_through_ingress_hostname():
    state = a.world(lb_type="application")
    [finding] = run_check("AWS-MAP", state)
    assert finding.status == Status.PASS
    assert "ALB" in finding.summary
    assert any("ingress.k8s.aws/resource=shop/web-web:80" in e for e in finding.evidence)


def test_fails_when_no_load_balancer_found_and_says_what_was_tried():
    state = a.world()
    state.aws.load_balancers = []
    state.aws.target_groups = []
    state.aws.target_health = {}
    [finding] = run_check("AWS-MAP", state)
    assert finding.status == Status.FAIL
    assert finding.cause == "controller"
    joined = "\n".join(finding.evidence)
    assert "no TargetGroupBinding" in joined
    assert "load balancer name k8s-shop-web-0123456789 from Service status hostname" in joined
    assert "not found" in joined


def test_fails_when_never_provisioned():
    svc = f.service(annotations={"service.beta.kubernetes.io/aws-load-balancer-type": "external"})
    state = f.make_state(svc, f.node(provider_id="aws:///us-east-1a/i-0123"))
    [finding] = run_check("AWS-MAP", state)
    assert finding.status == Status.FAIL
    assert "never provisioned" in finding.summary


def test_lb_found_but_no_target_group_of_this_service():
    state = a.world()
    tg = a.tg_of(state)
    state.aws.tags[tg["TargetGroupArn"]] = {"service.k8s.aws/stack": "other/api"}
    [finding] = run_check("AWS-MAP", state)
    assert finding.status == Status.FAIL
    assert "no target group" in finding.summary


def test_inactive_lb_warns():
    state = a.world()
    state.aws.load_balancers[0]["State"] = {"Code": "failed", "Reason": "subnet has no free IPs"}
    [finding] = run_check("AWS-MAP", state)
    assert finding.status == Status.WARN
    assert "failed" in finding.summary


def test_skips_without_credentials():
    state = f.make_state(f.service(hostname=a.dns_name("k8s-shop-web-0123456789")), reads={"k8s.service"})
    state.skipped_reads["aws.*"] = "no AWS credentials found (set AWS_PROFILE/...); AWS checks skipped"
    state.skipped_reads["aws.elbv2"] = state.skipped_reads["aws.*"]
    [finding] = run_check("AWS-MAP", state)
    assert finding.status == Status.SKIP
    assert "no AWS credentials" in finding.summary


def test_skips_tencent_service():
    svc = f.service(annotations={"service.kubernetes.io/loadbalance-id": "lb-abc"}, ingress_ip="127.0.5.1")
    state = f.make_state(svc, f.node(provider_id="qcloud:///800002/ins-abc"))
    [finding] = run_check("AWS-MAP", state)
    assert finding.status == Status.SKIP
    assert "Not an AWS load balancer" in finding.summary


def test_access_denied_is_an_error_naming_the_action():
    state = a.world()
    state.read_errors["aws.elbv2"] = (
        "AccessDenied: grant IAM action elasticloadbalancing:DescribeLoadBalancers to the lbhealth worker's role"
    )
    [finding] = run_check("AWS-MAP", state)
    assert finding.status == Status.ERROR
    assert "elasticloadbalancing:DescribeLoadBalancers" in finding.summary


def test_classic_elb_is_skipped():
    svc = f.service(hostname="a1b2c3d4e5f6a7b8c9d0-123456789.us-east-1.elb.amazonaws.com")
    state = f.make_state(svc, f.node(provider_id="aws:///us-east-1a/i-0123"))
    [finding] = run_check("AWS-MAP", state)
    assert finding.status == Status.SKIP
    assert "Classic" in finding.summary


def test_alarm_target_group_without_a_service():
    state = a.world(tag_service=False)
    state.k8s.objects.pop("Service")
    state.aws.load_balancers[0]["DNSName"] = "elsewhere.example.com"
    state.options["aws_target_groups"] = [a.tg_of(state)["TargetGroupArn"]]
    [finding] = run_check("AWS-MAP", state)
    assert finding.status == Status.PASS
    assert "alarm" in finding.summary


def test_missing_service_without_aws_data_is_a_skip():
    state = f.make_state(f.node(provider_id="aws:///us-east-1a/i-0123"), f.service("other"))
    state.options["cloud"] = "aws"
    [finding] = run_check("AWS-MAP", state)
    assert finding.status == Status.SKIP and "not found" in finding.summary


def test_classic_load_balancer_is_named_right_in_the_command_internal_or_not():
    """`internal-<name>-<number>...`: the name is not 'internal' (the first hyphen's part)."""
    for host, name in [
        ("internal-a1b2c3d4e5f6-1234567890.us-east-1.elb.amazonaws.com", "a1b2c3d4e5f6"),
        ("a9f8e7d6c5b4-987654321.us-east-1.elb.amazonaws.com", "a9f8e7d6c5b4"),
    ]:
        svc = f.service(hostname=host)
        state = f.make_state(svc, f.node(provider_id="aws:///us-east-1a/i-0123"))
        state.aws.region = "us-east-1"
        [finding] = run_check("AWS-MAP", state)
        assert finding.status == Status.SKIP and "Classic Load Balancer" in finding.summary, finding
        assert finding.next_step == f"aws elb describe-instance-health --region us-east-1 --load-balancer-name {name}"
