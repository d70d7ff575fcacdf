"""AWS side of the fixes, with moto's server on loopback.

- FIX-SG-RULE: `ec2.authorize_security_group_ingress` adds the rule, a second call is success
  (InvalidPermission.Duplicate), rollback revokes it; no credentials: nothing sent, the command shown.
- Verification: an NLB whose instance targets are not in service until the fix is written polls
  `describe_target_health` until they are healthy, within interval x healthy threshold + margin.
"""

from __future__ import annotations

import pytest

from bot.fixes import cloud, engine, sg_rule
from checks.collect.live import Clients
from checks.model import FixPlan, ObjectRef, Target
from checks.runner import diagnose
from tests import factories as f
from tests.fakes.kube_api import FakeKubeAPI
from tests.fixes.test_sg_rule_tencent import FakeClock


@pytest.fixture
def moto(no_cloud):
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    no_cloud.setenv("AWS_ACCESS_KEY_ID", "testing")
    no_cloud.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    no_cloud.setenv("AWS_DEFAULT_REGION", "us-east-1")
    no_cloud.setenv("AWS_ENDPOINT_URL", url)
    yield url
    import requests

    requests.post(f"{url}/moto-api/reset", timeout=10)  # moto keeps its state in the process, across servers
    server.stop()


def _session():
    import boto3

    return boto3.Session(region_name="us-east-1")


def _groups(ec2):
    vpc = ec2.create_vpc(CidrBlock="127.0.0.0/16")["Vpc"]["VpcId"]
    nodes = ec2.create_security_group(GroupName="nodes", Description="nodes", VpcId=vpc)["GroupId"]
    lb = ec2.create_security_group(GroupName="lb", Description="lb", VpcId=vpc)["GroupId"]
    return nodes, lb


def _sg_plan(nodes: str, lb: str) -> FixPlan:
    perms = [{"IpProtocol": "tcp", "FromPort": 30080, "ToPort": 30080, "UserIdGroupPairs": [{"GroupId": lb, "Description": "lbhealth: NLB health checks"}]}]
    return FixPlan(
        id="FIX-SG-RULE", title="t", patch={"GroupId": nodes, "IpPermissions": perms},
        command=f"aws ec2 authorize-security-group-ingress --region us-east-1 --group-id {nodes} --ip-permissions '...'",
        target=ObjectRef("SecurityGroup", nodes, "us-east-1", "ec2"), patch_type="cloud-api",
    )


def _ingress(ec2, group: str) -> list[dict]:
    return ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]["IpPermissions"]


def test_authorize_is_idempotent_and_revoke_removes_the_rule(moto):
    ec2 = _session().client("ec2")
    nodes, lb = _groups(ec2)
    write = sg_rule.write(_sg_plan(nodes, lb), None)
    clients = Clients(cloud={"aws": {"session": _session()}})
    first = cloud.authorize(write, clients)
    assert first.status == "applied" and "ec2:AuthorizeSecurityGroupIngress" in first.message
    [perm] = _ingress(ec2, nodes)
    assert (perm["FromPort"], perm["UserIdGroupPairs"][0]["GroupId"]) == (30080, lb)
    second = cloud.authorize(write, clients)
    assert second.status == "applied" and "InvalidPermission.Duplicate" in second.message
    assert len(_ingress(ec2, nodes)) == 1
    back = cloud.revoke({"provider": "aws", "params": write.params, "region": "us-east-1"}, clients)
    assert back.status == "applied" and _ingress(ec2, nodes) == []


def test_without_aws_credentials_nothing_is_sent_and_the_command_is_given(no_cloud):
    write = sg_rule.write(_sg_plan("sg-0123456789abcdef0", "sg-0fedcba9876543210"), None)
    result = cloud.authorize(write, Clients(cloud={"aws": {"session": _session()}}))
    assert result.status == "failed"
    assert "no AWS credentials" in result.message and "aws ec2 authorize-security-group-ingress --region us-east-1" in result.message


def test_a_world_opening_rule_is_refused_by_the_module():
    plan = _sg_plan("sg-0123456789abcdef0", "sg-x")
    plan.patch["IpPermissions"][0] = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    with pytest.raises(sg_rule.PlanError, match="0.0.0.0/0"):
        sg_rule.write(plan, None)


# ---- verification against ELB target health ----------------------------------------------------


@pytest.fixture
def nlb_world(moto, redis_url):
    """shop/web (targetPort 8080, the app on 80) behind an NLB with two instance targets that do not pass (stopped, in moto)."""
    session = _session()
    ec2, elb = session.client("ec2"), session.client("elbv2")
    vpc = ec2.create_vpc(CidrBlock="127.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="127.0.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    image = ec2.describe_images()["Images"][0]["ImageId"]
    ids = [i["InstanceId"] for i in ec2.run_instances(ImageId=image, MinCount=2, MaxCount=2, SubnetId=subnet)["Instances"]]
    lb = elb.create_load_balancer(Name="k8s-shop-web", Subnets=[subnet], Type="network")["LoadBalancers"][0]
    tg = elb.create_target_group(
        Name="k8s-shop-web-80", Protocol="TCP", Port=30080, VpcId=vpc, TargetType="instance",
        HealthCheckProtocol="TCP", HealthCheckIntervalSeconds=10, HealthyThresholdCount=3,
    )["TargetGroups"][0]
    elb.register_targets(TargetGroupArn=tg["TargetGroupArn"], Targets=[{"Id": i, "Port": 30080} for i in ids])
    ec2.stop_instances(InstanceIds=ids)  # moto: a stopped instance target is not healthy (Target.InvalidState)
    elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="TCP", Port=80, DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}])
    svc = f.service(ports=[{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP", "nodePort": 30080}],
                    annotations={"service.beta.kubernetes.io/aws-load-balancer-type": "external",
                                 "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "instance"},
                    hostname=lb["DNSName"])
    tgb = {"apiVersion": "elbv2.k8s.aws/v1beta1", "kind": "TargetGroupBinding", "metadata": {"name": "k8s-shop-web-80", "namespace": "shop"},
           "spec": {"serviceRef": {"name": "web", "port": 80}, "targetGroupARN": tg["TargetGroupArn"], "targetType": "instance"}}
    objects = [svc, tgb, f.pod("web-1", node="node-1"), f.pod("web-2", ip="127.0.0.3", node="node-2"),
               f.node("node-1", internal_ip="127.0.1.1", provider_id=f"aws:///us-east-1a/{ids[0]}"),
               f.node("node-2", internal_ip="127.0.1.2", provider_id=f"aws:///us-east-1a/{ids[1]}")]
    with FakeKubeAPI(objects) as kube:
        yield kube, ec2, ids


def _ctx(kube, redis_url, clock):
    import redis

    from bot.fixes.model import FixContext

    return FixContext(clients=Clients(k8s=kube.api_client(), cloud={"aws": {"session": _session()}}), redis=redis.Redis.from_url(redis_url),
                      clock=clock.clock, sleep=clock.sleep)


def _preview(ctx):
    report, _ = diagnose(Target.parse("shop/web"), clients=ctx.clients, probe=False)
    [finding] = [x for x in report.findings if x.check_id == "K8S-TARGETPORT"]
    return engine.preview(finding.fix, Target.parse("shop/web"), ctx, check_id="K8S-TARGETPORT")


def test_verify_polls_elb_target_health_until_the_targets_are_healthy(nlb_world, redis_url):
    kube, ec2, ids = nlb_world

    def targets_pass(n: int) -> None:
        if n == 1:  # the NLB's checks pass once kube-proxy forwards the NodePort to the right port
            ec2.start_instances(InstanceIds=ids)

    clock = FakeClock(targets_pass)
    ctx = _ctx(kube, redis_url, clock)
    p = _preview(ctx)
    assert engine.apply(p, "U1", "j1", ctx).status == "applied"
    v = engine.verify(p, ctx)
    assert v.status == "verified", v.message
    assert v.message == "applied, verified: 2/2 targets healthy after 5 s"


def test_verify_reports_still_failing_after_interval_x_threshold_plus_margin(nlb_world, redis_url):
    kube, _, _ = nlb_world
    clock = FakeClock()
    ctx = _ctx(kube, redis_url, clock)
    p = _preview(ctx)
    assert engine.apply(p, "U1", "j1", ctx).status == "applied"
    v = engine.verify(p, ctx)
    assert v.status == "still-failing"
    assert v.message == "applied, still failing: 0/2 targets healthy after 60 s"  # 10 s x 3 + 30 s


# ---- FIX-KUBE-PROXY-HOSTNAME: seed 000's custom DHCP domain name, diagnosed live ----------------


@pytest.fixture
def dhcp_world(moto):
    session = _session()
    ec2, elb = session.client("ec2"), session.client("elbv2")
    vpc = ec2.create_vpc(CidrBlock="127.0.0.0/16")["Vpc"]["VpcId"]
    dopt = ec2.create_dhcp_options(DhcpConfigurations=[{"Key": "domain-name", "Values": ["corp.example.com"]}])["DhcpOptions"]["DhcpOptionsId"]
    ec2.associate_dhcp_options(DhcpOptionsId=dopt, VpcId=vpc)
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="127.0.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    image = ec2.describe_images()["Images"][0]["ImageId"]
    ids = [i["InstanceId"] for i in ec2.run_instances(ImageId=image, MinCount=2, MaxCount=2, SubnetId=subnet)["Instances"]]
    lb = elb.create_load_balancer(Name="k8s-shop-web", Subnets=[subnet], Type="network")["LoadBalancers"][0]
    tg = elb.create_target_group(Name="k8s-shop-web-80", Protocol="TCP", Port=30080, VpcId=vpc, TargetType="instance")["TargetGroups"][0]
    elb.register_targets(TargetGroupArn=tg["TargetGroupArn"], Targets=[{"Id": i, "Port": 30080} for i in ids])
    ec2.stop_instances(InstanceIds=ids)  # every node target fails the check
    svc = f.service(external_traffic_policy="Local", healthCheckNodePort=32000, hostname=lb["DNSName"],
                    annotations={"service.beta.kubernetes.io/aws-load-balancer-type": "external",
                                 "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "instance"})
    tgb = {"apiVersion": "elbv2.k8s.aws/v1beta1", "kind": "TargetGroupBinding", "metadata": {"name": "k8s-shop-web-80", "namespace": "shop"},
           "spec": {"serviceRef": {"name": "web", "port": 80}, "targetGroupARN": tg["TargetGroupArn"], "targetType": "instance"}}
    kube_proxy = {
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
        "spec": {"template": {"metadata": {"labels": {"k8s-app": "kube-proxy"}}, "spec": {"containers": [
            {"name": "kube-proxy", "image": "kube-proxy:v1.30", "command": ["kube-proxy", "--v=2", "--config=/var/lib/kube-proxy-config/config"]}]}}},
    }
    objects = [svc, tgb, kube_proxy, f.pod("web-1", node="node-1"),
               f.node("node-1", internal_ip="127.0.1.1", provider_id=f"aws:///us-east-1a/{ids[0]}"),
               f.node("node-2", internal_ip="127.0.1.2", provider_id=f"aws:///us-east-1a/{ids[1]}")]
    with FakeKubeAPI(objects, record_bodies=True) as kube:
        yield kube


def test_kube_proxy_hostname_fix_previews_applies_once_and_rolls_back(dhcp_world, redis_url):
    kube = dhcp_world
    ctx = _ctx(kube, redis_url, FakeClock())
    report, _ = diagnose(Target.parse("shop/web"), clients=ctx.clients, probe=False)
    [finding] = [x for x in report.findings if x.fix and x.fix.id == "FIX-KUBE-PROXY-HOSTNAME"]
    assert finding.check_id == "K8S-TRAFFIC-POLICY"
    p = engine.preview(finding.fix, Target.parse("shop/web"), ctx, check_id="K8S-TRAFFIC-POLICY")
    assert "+              fieldPath: spec.nodeName" in p.diff and "--hostname-override=$(NODE_NAME)" in p.diff
    original = kube.get_object("DaemonSet", "kube-system", "kube-proxy")
    out = engine.apply(p, "U1", "j1", ctx)
    assert out.status == "applied", out.message
    [container] = kube.get_object("DaemonSet", "kube-system", "kube-proxy")["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "kube-proxy:v1.30"  # merged by name: the rest of the container is kept
    assert container["command"] == ["/bin/sh"] and "--hostname-override=$(NODE_NAME)" in container["args"][1]
    assert container["env"] == [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeName"}}}]
    assert len([r for r in kube.calls(verb="patch") if r.query.get("dryRun") != "All"]) == 1
    back = engine.rollback(out, "U2", "j2", ctx)
    assert back.status == "rolled-back", back.message
    assert kube.get_object("DaemonSet", "kube-system", "kube-proxy")["spec"] == original["spec"]


def test_preview_shows_the_groups_rules_with_the_new_one(moto, redis_url):
    from bot.fixes.model import FixContext

    ec2 = _session().client("ec2")
    nodes, lb = _groups(ec2)
    ec2.authorize_security_group_ingress(GroupId=nodes, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "127.0.0.0/24"}]}])
    p = engine.preview(_sg_plan(nodes, lb), Target.parse("shop/web"), FixContext(clients=Clients(cloud={"aws": {"session": _session()}})), check_id="AWS-SG")
    assert f" - tcp 22 from 127.0.0.0/24\n+- tcp 30080 from {lb}\n" in p.diff
    assert p.before == {nodes: ["tcp 22 from 127.0.0.0/24"]} and _ingress(ec2, nodes)[0]["FromPort"] == 22  # nothing written
    assert len(_ingress(ec2, nodes)) == 1


def test_preview_without_credentials_shows_the_rule_and_says_the_group_was_not_read(no_cloud):
    from bot.fixes.model import FixContext

    plan = _sg_plan("sg-0123456789abcdef0", "sg-0fedcba9876543210")
    p = engine.preview(plan, Target.parse("shop/web"), FixContext(clients=Clients(cloud={"aws": {"session": _session()}})), check_id="AWS-SG")
    assert "(its rules not read: NoCredentialsError" in p.diff
    assert "+    GroupId: sg-0fedcba9876543210\n" in p.diff
