"""The live AWS collector against moto (EC2/ELBv2 topology), a real moto server (AWS_ENDPOINT_URL),
and botocore's Stubber where moto cannot express a state (unhealthy reason codes, AccessDenied).

Every address is in 127.0.0.0/8 and probes are off: nothing leaves loopback.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import asdict
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from checks.collect.aws import (
    AWS_READS,
    NO_CREDENTIALS,
    NOT_SUSPECTED,
    collect_aws,
    collect_live,
    describe_tg_tags,
    resolve_region,
)
from checks.collect.live import Clients
from checks.model import Status
from checks.providers import names
from tests import factories as f
from tests.factories import run_check

REGION = "us-east-1"
ELBV2_BUDGET_BASE = 4  # DESIGN: ELBv2 <= 4 calls + 1 per target group


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    """Fake credentials, no config files, no instance metadata: nothing can reach a real endpoint."""
    for var in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2",
        "AWS_ENDPOINT_URL_EC2",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    return monkeypatch


def counting_session() -> tuple[boto3.Session, Counter]:
    """A session whose clients count every API call by (service, operation) and every HTTP send."""
    session = boto3.Session(region_name=REGION)
    calls: Counter = Counter()

    def on_call(model, **_: Any) -> None:
        calls[(model.service_model.service_name, model.name)] += 1

    def on_send(**_: Any) -> None:
        calls["http"] += 1

    session.events.register("before-call.*.*", on_call)
    session.events.register("before-send.*.*", on_send)
    return session, calls


def by_service(calls: Counter, service: str) -> int:
    return sum(n for k, n in calls.items() if isinstance(k, tuple) and k[0] == service)


class Topology:
    """A VPC with node and LB subnets, two nodes, security groups, built through the real APIs."""

    def __init__(self) -> None:
        self.ec2 = boto3.client("ec2", region_name=REGION)
        self.elbv2 = boto3.client("elbv2", region_name=REGION)
        self.vpc = self.ec2.create_vpc(CidrBlock="127.0.0.0/16")["Vpc"]["VpcId"]
        self.node_subnet = self._subnet("127.0.1.0/24", "us-east-1a")
        self.lb_subnets = [
            self._subnet("127.0.2.0/24", "us-east-1a"),
            self._subnet("127.0.3.0/24", "us-east-1b"),
        ]
        self.node_sg = self.ec2.create_security_group(
            GroupName="eks-nodes", Description="nodes", VpcId=self.vpc
        )["GroupId"]
        self.lb_sg = self.ec2.create_security_group(GroupName="k8s-lb", Description="lb", VpcId=self.vpc)[
            "GroupId"
        ]
        run = self.ec2.run_instances(
            ImageId="ami-12345678",
            MinCount=2,
            MaxCount=2,
            SubnetId=self.node_subnet,
            SecurityGroupIds=[self.node_sg],
        )
        self.instances = [i["InstanceId"] for i in run["Instances"]]
        self.ips = [i["PrivateIpAddress"] for i in run["Instances"]]

    def _subnet(self, cidr: str, az: str) -> str:
        return self.ec2.create_subnet(VpcId=self.vpc, CidrBlock=cidr, AvailabilityZone=az)["Subnet"][
            "SubnetId"
        ]

    def nodes(self) -> list[dict[str, Any]]:
        return [
            f.node(f"node-{i + 1}", internal_ip=ip, provider_id=f"aws:///us-east-1a/{iid}")
            for i, (iid, ip) in enumerate(zip(self.instances, self.ips, strict=True))
        ]

    def lb(self, name: str, type: str = "network", sgs: bool = False) -> dict[str, Any]:
        kw: dict[str, Any] = {"Name": name, "Subnets": self.lb_subnets, "Type": type}
        if sgs or type == "application":
            kw["SecurityGroups"] = [self.lb_sg]
        return self.elbv2.create_load_balancer(**kw)["LoadBalancers"][0]

    def tg(
        self,
        name: str,
        lb: dict[str, Any],
        *,
        port: int,
        target_type: str,
        tags: dict[str, str],
        protocol: str = "TCP",
        listener_port: int = 80,
    ) -> dict[str, Any]:
        tg = self.elbv2.create_target_group(
            Name=name, Protocol=protocol, Port=port, VpcId=self.vpc, TargetType=target_type
        )["TargetGroups"][0]
        if tags:
            self.elbv2.add_tags(
                ResourceArns=[tg["TargetGroupArn"]], Tags=[{"Key": k, "Value": v} for k, v in tags.items()]
            )
        self.elbv2.create_listener(
            LoadBalancerArn=lb["LoadBalancerArn"],
            Protocol=protocol,
            Port=listener_port,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}],
        )
        return tg

    def register_nodes(self, tg: dict[str, Any], port: int) -> None:
        self.elbv2.register_targets(
            TargetGroupArn=tg["TargetGroupArn"], Targets=[{"Id": i, "Port": port} for i in self.instances]
        )


def nlb_service(lb: dict[str, Any], **kw: Any) -> dict[str, Any]:
    ann = {
        "service.beta.kubernetes.io/aws-load-balancer-type": "external",
        "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "instance",
    }
    return f.service(hostname=lb["DNSName"], annotations=ann, **kw)


# ---- mapping and call budget --------------------------------------------------------------------


def test_nlb_by_hostname_and_tags_within_budget_and_no_network_reads(aws_env):
    with mock_aws():
        topo = Topology()
        lb = topo.lb("k8s-shop-web-0123456789")
        tgs = [
            topo.tg(
                f"k8s-shop-web-{p}",
                lb,
                port=30000 + p,
                target_type="instance",
                listener_port=p,
                tags={"service.k8s.aws/stack": "shop/web", "service.k8s.aws/resource": f"shop/web:{p}"},
            )
            for p in (80, 443)
        ]
        for tg in tgs:
            topo.register_nodes(tg, tg["Port"])
        state = f.make_state(nlb_service(lb), *topo.nodes(), reads=set())
        session, calls = counting_session()
        collect_aws(state, set(AWS_READS), session)

    assert state.read_errors == {}
    assert {tg["TargetGroupArn"] for tg in state.aws.target_groups} == {tg["TargetGroupArn"] for tg in tgs}
    assert by_service(calls, "elbv2") <= ELBV2_BUDGET_BASE + len(tgs)
    assert calls[("elbv2", "DescribeTargetHealth")] == len(tgs)
    assert by_service(calls, "ec2") == 0  # healthy targets: the network path is not suspected
    assert state.skipped_reads["aws.ec2_network"] == NOT_SUSPECTED
    assert state.api_calls["aws"] == by_service(calls, "elbv2") + by_service(calls, "ec2")
    assert {"aws.elbv2", "aws.target_health"} <= state.reads_done
    [finding] = run_check("AWS-MAP", state)
    assert finding.status == Status.PASS and "by controller tags" in finding.summary


def test_shared_alb_keeps_only_this_services_groups(aws_env):
    with mock_aws():
        topo = Topology()
        lb = topo.lb("k8s-shop-front-0123456789", type="application")
        mine = topo.tg(
            "k8s-shop-web-aaa",
            lb,
            port=80,
            target_type="ip",
            protocol="HTTP",
            listener_port=80,
            tags={"ingress.k8s.aws/stack": "shop/front", "ingress.k8s.aws/resource": "shop/front-web:80"},
        )
        topo.tg(
            "k8s-shop-api-bbb",
            lb,
            port=8080,
            target_type="ip",
            protocol="HTTP",
            listener_port=8080,
            tags={"ingress.k8s.aws/stack": "shop/front", "ingress.k8s.aws/resource": "shop/front-api:8080"},
        )
        ing = f.ingress("front", service_name="web")
        ing["status"] = {"loadBalancer": {"ingress": [{"hostname": lb["DNSName"]}]}}
        state = f.make_state(f.service(type="NodePort"), ing, *topo.nodes(), reads=set())
        session, calls = counting_session()
        collect_aws(state, {"aws.elbv2", "aws.target_health"}, session)

    assert [tg["TargetGroupName"] for tg in state.aws.target_groups] == ["k8s-shop-web-aaa"]
    assert list(state.aws.target_health) == [mine["TargetGroupArn"]]
    assert by_service(calls, "elbv2") <= ELBV2_BUDGET_BASE + 1


def test_target_group_binding_path(aws_env):
    with mock_aws():
        topo = Topology()
        lb = topo.lb("k8s-shop-web-0123456789")
        tg = topo.tg("k8s-shop-web-tgb", lb, port=30080, target_type="instance", tags={})
        topo.register_nodes(tg, 30080)
        tgb = {
            "apiVersion": "elbv2.k8s.aws/v1beta1",
            "kind": "TargetGroupBinding",
            "metadata": {"name": "k8s-shop-web-tgb", "namespace": "shop"},
            "spec": {
                "serviceRef": {"name": "web", "port": 80},
                "targetGroupARN": tg["TargetGroupArn"],
                "targetType": "instance",
            },
        }
        state = f.make_state(f.service(type="NodePort"), tgb, *topo.nodes(), reads=set())
        session, calls = counting_session()
        collect_aws(state, {"aws.elbv2", "aws.target_health"}, session)

    assert calls[("elbv2", "DescribeTargetGroups")] == 1
    assert calls[("elbv2", "DescribeLoadBalancers")] == 1
    assert by_service(calls, "elbv2") <= ELBV2_BUDGET_BASE + 1
    assert state.aws.load_balancers[0]["LoadBalancerName"] == "k8s-shop-web-0123456789"
    [finding] = run_check("AWS-MAP", state)
    assert finding.status == Status.PASS and "TargetGroupBinding" in finding.summary


def test_missing_load_balancer_is_an_answer_not_an_error(aws_env):
    with mock_aws():
        topo = Topology()
        svc = nlb_service({"DNSName": "k8s-shop-web-0000000000-0123456789abcdef.elb.us-east-1.amazonaws.com"})
        state = f.make_state(svc, *topo.nodes(), reads=set())
        session, calls = counting_session()
        collect_aws(state, set(AWS_READS), session)
    assert state.read_errors == {}
    assert calls[("elbv2", "DescribeLoadBalancers")] == 1
    assert "aws.elbv2" in state.reads_done
    assert "AWS-MAP" in state.skipped_reads["aws.target_health"]
    [finding] = run_check("AWS-MAP", state)
    assert finding.status == Status.FAIL
    assert any("k8s-shop-web-0000000000" in e and "not found" in e for e in finding.evidence)


def test_network_reads_on_request_and_json_serialisable(aws_env):
    with mock_aws():
        topo = Topology()
        lb = topo.lb("k8s-shop-web-0123456789", type="application")
        tg = topo.tg(
            "k8s-shop-web-tg",
            lb,
            port=30080,
            target_type="instance",
            protocol="HTTP",
            tags={"service.k8s.aws/stack": "shop/web"},
        )
        topo.register_nodes(tg, 30080)
        state = f.make_state(f.service(hostname=lb["DNSName"]), *topo.nodes(), reads=set(), network=True)
        session, calls = counting_session()
        collect_aws(state, set(AWS_READS), session)

    assert state.read_errors == {}
    assert {"aws.ec2_network", "aws.instances"} <= state.reads_done
    assert sorted(i["InstanceId"] for i in state.aws.instances) == sorted(topo.instances)
    assert {g["GroupId"] for g in state.aws.security_groups} >= {topo.node_sg, topo.lb_sg}
    assert (
        len(state.aws.subnets) == 3 and state.aws.network_acls and state.aws.route_tables and state.aws.vpcs
    )
    assert by_service(calls, "ec2") <= 6
    assert calls[("ec2", "DescribeDhcpOptions")] == 0  # ALB: DHCP not relevant
    snapshot = json.dumps(asdict(state.aws))  # datetimes became ISO strings
    assert isinstance(state.aws.load_balancers[0]["CreatedTime"], str)
    assert "ResponseMetadata" not in snapshot
    # moto's node group has no inbound rule, yet moto calls the targets healthy: a warning, not a cause
    [finding] = run_check("AWS-SG", state)
    assert finding.status == Status.WARN and topo.lb_sg in finding.summary
    assert run_check("AWS-ROUTES", state)[0].status == Status.PASS


def test_dhcp_options_only_for_nlb_local_instance(aws_env):
    with mock_aws():
        topo = Topology()
        dopt = topo.ec2.create_dhcp_options(
            DhcpConfigurations=[{"Key": "domain-name", "Values": ["corp.example.com"]}]
        )
        topo.ec2.associate_dhcp_options(DhcpOptionsId=dopt["DhcpOptions"]["DhcpOptionsId"], VpcId=topo.vpc)
        lb = topo.lb("k8s-shop-web-0123456789")
        tg = topo.tg(
            "k8s-shop-web-tg",
            lb,
            port=30080,
            target_type="instance",
            tags={"service.k8s.aws/stack": "shop/web"},
        )
        topo.register_nodes(tg, 30080)
        svc = nlb_service(lb, external_traffic_policy="Local", healthCheckNodePort=32000)
        state = f.make_state(svc, *topo.nodes(), reads=set())
        session, calls = counting_session()
        collect_aws(state, set(AWS_READS), session)
        cluster_state = f.make_state(nlb_service(lb), *topo.nodes(), reads=set())
        session2, calls2 = counting_session()
        collect_aws(cluster_state, set(AWS_READS), session2)

    assert calls[("ec2", "DescribeVpcs")] == 1 and calls[("ec2", "DescribeDhcpOptions")] == 1
    assert by_service(calls, "ec2") == 2  # healthy targets: no other EC2 read
    [finding] = run_check("AWS-DHCP", state)
    assert finding.status == Status.WARN and "corp.example.com" in finding.summary
    assert by_service(calls2, "ec2") == 0
    assert "aws.dhcp" in cluster_state.skipped_reads


# ---- credentials, errors ----------------------------------------------------------------------------


def test_no_credentials_sends_no_request(aws_env):
    aws_env.delenv("AWS_ACCESS_KEY_ID")
    aws_env.delenv("AWS_SECRET_ACCESS_KEY")
    session, calls = counting_session()
    assert session.get_credentials() is None
    lb_host = "k8s-shop-web-0123456789-0123456789abcdef.elb.us-east-1.amazonaws.com"
    state = f.make_state(
        nlb_service({"DNSName": lb_host}), f.node(provider_id="aws:///us-east-1a/i-0123"), reads=set()
    )
    collect_aws(state, set(AWS_READS), session)
    assert sum(calls.values()) == 0
    assert state.api_calls["aws"] == 0
    assert state.skipped_reads["aws.*"] == NO_CREDENTIALS
    assert all(state.skipped_reads[r] == NO_CREDENTIALS for r in AWS_READS)
    [finding] = run_check("AWS-MAP", state)
    assert finding.status == Status.SKIP and "no AWS credentials" in finding.summary


def test_not_aws_sends_no_request(aws_env):
    session, calls = counting_session()
    svc = f.service(annotations={"service.kubernetes.io/loadbalance-id": "lb-0abc"}, ingress_ip="127.0.5.1")
    state = f.make_state(svc, reads=set())
    collect_aws(state, set(AWS_READS), session)
    assert sum(calls.values()) == 0
    assert "tencent" in state.skipped_reads["aws.elbv2"]


def stubbed_elbv2() -> tuple[Any, Stubber]:
    client = boto3.client("elbv2", region_name=REGION)
    return client, Stubber(client)


LB_ARN = f"arn:aws:elasticloadbalancing:{REGION}:123456789012:loadbalancer/app/k8s-shop-web-0123456789/0123456789abcdef"
TG_ARN = f"arn:aws:elasticloadbalancing:{REGION}:123456789012:targetgroup/k8s-shop-web-tg/fedcba9876543210"
LB_HOST = "k8s-shop-web-0123456789-0123456789abcdef.elb.us-east-1.amazonaws.com"
ALB_HOST = "k8s-shop-web-0123456789-1234567890.us-east-1.elb.amazonaws.com"


def _lb(
    vpc: str = "vpc-01234567", subnets: list[str] | None = None, sgs: list[str] | None = None
) -> dict[str, Any]:
    lb = {
        "LoadBalancerArn": LB_ARN,
        "DNSName": LB_HOST,
        "LoadBalancerName": "k8s-shop-web-0123456789",
        "Scheme": "internet-facing",
        "VpcId": vpc,
        "State": {"Code": "active"},
        "Type": "network",
        "AvailabilityZones": [
            {"ZoneName": "us-east-1a", "SubnetId": s} for s in (subnets or ["subnet-01234567"])
        ],
    }
    if sgs:
        lb["SecurityGroups"] = sgs
    return lb


def _tg(vpc: str = "vpc-01234567", target_type: str = "instance", port: int = 30080) -> dict[str, Any]:
    """An ALB target group (HTTP) of Ingress web -> Service web."""
    return {
        "TargetGroupArn": TG_ARN,
        "TargetGroupName": "k8s-shop-web-tg",
        "Protocol": "HTTP",
        "Port": port,
        "VpcId": vpc,
        "HealthCheckProtocol": "HTTP",
        "HealthCheckPort": "traffic-port",
        "HealthCheckPath": "/",
        "Matcher": {"HttpCode": "200"},
        "HealthCheckIntervalSeconds": 10,
        "HealthCheckTimeoutSeconds": 10,
        "HealthyThresholdCount": 3,
        "UnhealthyThresholdCount": 3,
        "LoadBalancerArns": [LB_ARN],
        "TargetType": target_type,
    }


def alb_ingress_objects() -> list[dict[str, Any]]:
    """Service web behind an ALB Ingress: the load balancer is shared, so the collector reads the
    tags before any target health (one call per round, the order Stubber needs)."""
    ing = f.ingress("web", service_name="web")
    ing["status"] = {"loadBalancer": {"ingress": [{"hostname": ALB_HOST}]}}
    return [f.service(type="NodePort"), ing]


def _queue_mapping(stub: Stubber, lb: dict[str, Any], tg: dict[str, Any]) -> None:
    stub.add_response(
        "describe_load_balancers", {"LoadBalancers": [lb]}, {"Names": ["k8s-shop-web-0123456789"]}
    )
    stub.add_response("describe_target_groups", {"TargetGroups": [tg]}, {"LoadBalancerArn": LB_ARN})
    stub.add_response(
        "describe_tags",
        {
            "TagDescriptions": [
                {"ResourceArn": TG_ARN, "Tags": [{"Key": "service.k8s.aws/stack", "Value": "shop/web"}]}
            ]
        },
        {"ResourceArns": [TG_ARN]},
    )


def test_access_denied_names_the_iam_action(aws_env):
    client, stub = stubbed_elbv2()
    stub.add_client_error(
        "describe_load_balancers",
        service_error_code="AccessDenied",
        service_message="User: arn:aws:sts::123456789012:assumed-role/lbhealth/x is not authorized to perform: elasticloadbalancing:DescribeLoadBalancers",
        http_status_code=403,
    )
    state = f.make_state(nlb_service({"DNSName": LB_HOST}), reads=set())
    with stub:
        collect_aws(state, set(AWS_READS), clients={"elbv2": client})
        stub.assert_no_pending_responses()
    assert state.read_errors["aws.elbv2"].startswith(
        "AccessDenied: grant IAM action elasticloadbalancing:DescribeLoadBalancers"
    )
    assert state.api_calls["aws"] == 1
    assert "aws.target_health" in state.skipped_reads
    [finding] = run_check("AWS-MAP", state)
    assert finding.status == Status.ERROR and "elasticloadbalancing:DescribeLoadBalancers" in finding.summary


def test_access_denied_on_target_health_and_ec2(aws_env):
    client, stub = stubbed_elbv2()
    _queue_mapping(stub, _lb(), _tg())
    stub.add_client_error(
        "describe_target_health",
        service_error_code="AccessDenied",
        service_message="denied",
        http_status_code=403,
    )
    ec2 = boto3.client("ec2", region_name=REGION)
    ec2_stub = Stubber(ec2)
    # target health unknown -> the network path is not ruled out; DescribeInstances is refused
    ec2_stub.add_client_error(
        "describe_instances",
        service_error_code="UnauthorizedOperation",
        service_message="You are not authorized to perform this operation.",
        http_status_code=403,
    )
    node = f.node(provider_id="aws:///us-east-1a/i-0aaaaaaaaaaaaaaa1")
    state = f.make_state(*alb_ingress_objects(), node, reads=set())
    reads = {"aws.elbv2", "aws.target_health", "aws.instances"}  # one call per round: Stubber's order holds
    with stub, ec2_stub:
        collect_aws(state, reads, clients={"elbv2": client, "ec2": ec2})
        stub.assert_no_pending_responses()
        ec2_stub.assert_no_pending_responses()
    assert "elasticloadbalancing:DescribeTargetHealth" in state.read_errors["aws.target_health"]
    assert "ec2:DescribeInstances" in state.read_errors["aws.instances"]
    [finding] = run_check("AWS-TARGET-HEALTH", state)
    assert finding.status == Status.ERROR
    [finding] = run_check("AWS-SG", state)
    assert finding.status == Status.ERROR and "ec2:DescribeInstances" in finding.summary
    assert state.api_calls["aws"] == 5


def test_timeout_reason_triggers_network_reads_against_moto_ec2(aws_env):
    """Stubber for the reason codes moto cannot produce; moto for the EC2 topology."""
    with mock_aws():
        topo = Topology()
        lb = _lb(vpc=topo.vpc, subnets=topo.lb_subnets, sgs=[topo.lb_sg])
        tg = _tg(vpc=topo.vpc)
        client, stub = stubbed_elbv2()
        _queue_mapping(stub, lb, tg)
        stub.add_response(
            "describe_target_health",
            {
                "TargetHealthDescriptions": [
                    {
                        "Target": {"Id": i, "Port": 30080},
                        "HealthCheckPort": "30080",
                        "TargetHealth": {
                            "State": "unhealthy",
                            "Reason": "Target.Timeout",
                            "Description": "Request timed out",
                        },
                    }
                    for i in topo.instances
                ]
            },
            {"TargetGroupArn": TG_ARN},
        )
        session, calls = counting_session()
        ec2 = session.client("ec2", region_name=REGION)
        state = f.make_state(*alb_ingress_objects(), *topo.nodes(), reads=set())
        with stub:
            collect_aws(state, set(AWS_READS), clients={"elbv2": client, "ec2": ec2})
            stub.assert_no_pending_responses()

    assert state.read_errors == {}
    assert state.api_calls["aws"] == 4 + by_service(calls, "ec2")
    assert calls[("ec2", "DescribeInstances")] == 1
    assert calls[("ec2", "DescribeSecurityGroups")] == 1
    assert by_service(calls, "ec2") == 6
    findings = run_check("AWS-SG", state)
    fail = next(x for x in findings if x.status == Status.FAIL)
    assert topo.lb_sg in fail.summary and "30080" in fail.summary
    assert fail.fix.command.startswith(
        f"aws ec2 authorize-security-group-ingress --region {REGION} --group-id {topo.node_sg}"
    )
    [th] = [x for x in run_check("AWS-TARGET-HEALTH", state) if x.status == Status.FAIL]
    assert "Target.Timeout" in th.summary and "node node-1" in "\n".join(th.evidence)


def test_describe_tg_tags_batches_twenty_per_call(aws_env):
    with mock_aws():
        elbv2 = boto3.client("elbv2", region_name=REGION)
        ec2 = boto3.client("ec2", region_name=REGION)
        vpc = ec2.create_vpc(CidrBlock="127.0.0.0/16")["Vpc"]["VpcId"]
        arns = []
        for i in range(25):
            tg = elbv2.create_target_group(
                Name=f"tg-{i}", Protocol="TCP", Port=80, VpcId=vpc, TargetType="ip"
            )["TargetGroups"][0]
            elbv2.add_tags(
                ResourceArns=[tg["TargetGroupArn"]],
                Tags=[{"Key": "kubernetes.io/service-name", "Value": f"shop/svc-{i}"}],
            )
            arns.append(tg["TargetGroupArn"])
        count = Counter()
        tags = describe_tg_tags(elbv2, arns, on_call=lambda: count.update(["call"]))
    assert count["call"] == 2
    assert tags[arns[24]] == {"kubernetes.io/service-name": "shop/svc-24"}
    assert len(tags) == 25


# ---- region and endpoint ---------------------------------------------------------------------------


def test_region_sources(aws_env):
    aws_env.delenv("AWS_REGION")
    aws_env.delenv("AWS_DEFAULT_REGION")
    node = f.node(provider_id="aws:///ap-southeast-2b/i-0123")
    state = f.make_state(f.service(), node)
    assert resolve_region(state) == "ap-southeast-2"
    aws_env.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert resolve_region(state) == "eu-west-1"
    aws_env.setenv("AWS_REGION", "eu-central-1")
    assert resolve_region(state) == "eu-central-1"
    with_host = f.make_state(
        f.service(hostname="k8s-default-nlbip-fff2442e46-ae4f8cf4a182dc4d.elb.ap-southeast-2.amazonaws.com"),
        node,
    )
    assert resolve_region(with_host) == "ap-southeast-2"  # the load balancer's own region wins
    with_host.aws.region = "us-west-2"
    assert resolve_region(with_host) == "us-west-2"


def test_the_clusters_configured_region_beats_the_environment_not_the_load_balancer(aws_env):
    aws_env.setenv("AWS_REGION", "eu-central-1")
    bare = f.make_state(f.service())
    assert resolve_region(bare, configured="sa-east-1") == "sa-east-1"
    with_host = f.make_state(
        f.service(hostname="k8s-default-nlbip-fff2442e46-ae4f8cf4a182dc4d.elb.ap-southeast-2.amazonaws.com")
    )
    assert resolve_region(with_host, configured="sa-east-1") == "ap-southeast-2"


def test_a_configured_clusters_region_reaches_the_aws_collector(aws_env):
    """The worker's Clients.for_cluster hands the cluster's region to the AWS collector (over AWS_REGION)."""
    aws_env.setenv("AWS_REGION", "eu-central-1")
    with mock_aws():
        state = f.make_state(f.service(), reads=set())
        collect_live(state, set(AWS_READS), Clients.for_cluster(None, "aws", "sa-east-1"))
    assert state.aws.region == "sa-east-1"


def test_for_cluster_gives_the_region_to_the_named_cloud_or_to_every_provider():
    assert Clients.for_cluster("ctx", "tencent", "ap-guangzhou").cloud == {"tencent": {"region": "ap-guangzhou"}}
    assert set(Clients.for_cluster("ctx", None, "eu-west-1").cloud) == set(names())
    assert Clients.for_cluster("ctx", "aws", None).cloud == {}
    assert Clients.for_cluster("ctx", "aws", None).context == "ctx"


def test_aws_endpoint_url_reaches_a_real_moto_server(aws_env):
    """botocore honours AWS_ENDPOINT_URL: the collector talks HTTP to a moto server on 127.0.0.1."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        aws_env.setenv("AWS_ENDPOINT_URL", f"http://{host}:{port}")
        topo = Topology()  # created through the same env: the server holds it
        lb = topo.lb("k8s-shop-web-0123456789")
        tg = topo.tg(
            "k8s-shop-web-tg",
            lb,
            port=30080,
            target_type="instance",
            tags={"service.k8s.aws/stack": "shop/web"},
        )
        topo.register_nodes(tg, 30080)
        session, calls = counting_session()
        sent_to: list[str] = []
        session.events.register("before-send.*.*", lambda request, **_: sent_to.append(request.url))
        state = f.make_state(nlb_service(lb), *topo.nodes(), reads=set(), network=True)
        collect_aws(state, set(AWS_READS), session)
    finally:
        server.stop()
    assert state.read_errors == {}
    assert [t["TargetGroupName"] for t in state.aws.target_groups] == ["k8s-shop-web-tg"]
    assert len(state.aws.target_health[tg["TargetGroupArn"]]) == 2
    assert state.aws.instances and state.aws.security_groups
    assert sent_to and all(u.startswith(f"http://{host}:{port}") for u in sent_to)
    assert calls["http"] == state.api_calls["aws"]


def _overlap_run(path: str, delay: float) -> tuple[list[tuple[float, float, str]], Any]:
    """Run the collector with `delay` added to every call; return each call's (start, end, name)."""
    with mock_aws():
        topo = Topology()
        lb = topo.lb("k8s-shop-web-0123456789")
        tgs = [
            topo.tg(
                f"k8s-shop-web-{p}",
                lb,
                port=30000 + p,
                target_type="instance",
                listener_port=p,
                tags={"service.k8s.aws/stack": "shop/web"},
            )
            for p in (80, 443)
        ]
        for tg in tgs:
            topo.register_nodes(tg, tg["Port"])
        objects: list[dict[str, Any]] = [nlb_service(lb), *topo.nodes()]
        if path == "binding":
            objects[0] = f.service(type="NodePort")
            for tg in tgs:
                objects.append(
                    {
                        "apiVersion": "elbv2.k8s.aws/v1beta1",
                        "kind": "TargetGroupBinding",
                        "metadata": {"name": tg["TargetGroupName"], "namespace": "shop"},
                        "spec": {
                            "serviceRef": {"name": "web", "port": 80},
                            "targetGroupARN": tg["TargetGroupArn"],
                        },
                    }
                )
        state = f.make_state(*objects, reads=set(), network=path.endswith("network"))
        session = boto3.Session(region_name=REGION)
        spans: dict[int, list[Any]] = {}
        lock = threading.Lock()

        def before(model, context, **_: Any) -> None:
            with lock:
                spans[id(context)] = [time.monotonic(), None, model.name]
            time.sleep(delay)

        def after(context, **_: Any) -> None:
            with lock:
                spans[id(context)][1] = time.monotonic()

        session.events.register("before-call.*.*", before)
        session.events.register("after-call.*.*", after)
        collect_aws(state, set(AWS_READS), session)
    return sorted((s, e, n) for s, e, n in spans.values()), state


def rounds_of(spans: list[tuple[float, float, str]]) -> list[list[str]]:
    """Group calls into rounds: a call that starts after every earlier call ended opens a new round."""
    rounds: list[list[str]] = []
    end = -1.0
    for start, stop, name in spans:
        if start >= end:
            rounds.append([])
        rounds[-1].append(name)
        end = max(end, stop)
    return rounds


@pytest.mark.parametrize(
    "path,expected",
    [
        (
            "hostname",
            [
                ["DescribeLoadBalancers"],
                ["DescribeTargetGroups"],
                ["DescribeTags", "DescribeTargetHealth", "DescribeTargetHealth"],
            ],
        ),
        (
            "binding",
            [
                ["DescribeTags", "DescribeTargetGroups", "DescribeTargetHealth", "DescribeTargetHealth"],
                ["DescribeLoadBalancers"],
            ],
        ),
        (
            "hostname+network",
            [
                ["DescribeLoadBalancers"],
                ["DescribeTargetGroups"],
                ["DescribeTags", "DescribeTargetHealth", "DescribeTargetHealth"],
                [
                    "DescribeInstances",
                    "DescribeNetworkAcls",
                    "DescribeRouteTables",
                    "DescribeSubnets",
                    "DescribeVpcs",
                ],
                ["DescribeSecurityGroups"],
            ],
        ),
    ],
)
def test_independent_calls_overlap(aws_env, path, expected):
    """50 ms added to every call: independent calls run in the same round, so a diagnosis costs
    one delay per round (3 for the hostname path, 2 with TargetGroupBindings, +2 for the network)."""
    spans, state = _overlap_run(path, 0.05)
    assert state.read_errors == {}
    assert len(state.aws.target_health) == 2
    assert [sorted(r) for r in rounds_of(spans)] == expected


def test_listeners_read_only_when_the_lb_has_no_target_group(aws_env):
    with mock_aws():
        topo = Topology()
        lb = topo.lb("k8s-shop-web-0123456789")
        state = f.make_state(nlb_service(lb), *topo.nodes(), reads=set())
        session, calls = counting_session()
        collect_aws(state, set(AWS_READS), session)
    assert calls[("elbv2", "DescribeListeners")] == 1
    assert by_service(calls, "elbv2") == 3
    [finding] = run_check("AWS-MAP", state)
    assert finding.status == Status.FAIL and "has no target group" in finding.summary


def test_ip_targets_on_unknown_nodes_are_found_by_eni_address(aws_env):
    """moto lacks the ENI-address filter of DescribeInstances: Stubber checks the exact request."""
    client, stub = stubbed_elbv2()
    _queue_mapping(stub, _lb(), _tg(target_type="ip", port=80))
    stub.add_response(
        "describe_target_health",
        {
            "TargetHealthDescriptions": [
                {
                    "Target": {"Id": "127.0.0.9", "Port": 80},
                    "TargetHealth": {"State": "unhealthy", "Reason": "Target.Timeout"},
                }
            ]
        },
        {"TargetGroupArn": TG_ARN},
    )
    ec2 = boto3.client("ec2", region_name=REGION)
    ec2_stub = Stubber(ec2)
    ec2_stub.add_response(
        "describe_instances",
        {"Reservations": [{"Instances": [{"InstanceId": "i-0abc", "PrivateIpAddress": "127.0.1.9"}]}]},
        {"Filters": [{"Name": "network-interface.addresses.private-ip-address", "Values": ["127.0.0.9"]}]},
    )
    state = f.make_state(*alb_ingress_objects(), reads=set())
    with stub, ec2_stub:
        collect_aws(
            state, {"aws.elbv2", "aws.target_health", "aws.instances"}, clients={"elbv2": client, "ec2": ec2}
        )
        ec2_stub.assert_no_pending_responses()
    assert state.read_errors == {}
    assert [i["InstanceId"] for i in state.aws.instances] == ["i-0abc"]


def test_partial_clients_fall_back_to_the_session(aws_env):
    with mock_aws():
        topo = Topology()
        lb = _lb(vpc=topo.vpc, subnets=topo.lb_subnets, sgs=[topo.lb_sg])
        client, stub = stubbed_elbv2()
        _queue_mapping(stub, lb, _tg(vpc=topo.vpc))
        stub.add_response(
            "describe_target_health",
            {
                "TargetHealthDescriptions": [
                    {
                        "Target": {"Id": topo.instances[0], "Port": 30080},
                        "TargetHealth": {"State": "unhealthy", "Reason": "Target.Timeout"},
                    }
                ]
            },
            {"TargetGroupArn": TG_ARN},
        )
        state = f.make_state(*alb_ingress_objects(), *topo.nodes(), reads=set())
        with stub:
            collect_aws(state, set(AWS_READS), clients={"elbv2": client})  # EC2 from the default session
    assert state.read_errors == {}
    assert state.aws.instances and state.aws.security_groups


def test_a_collector_bug_becomes_a_read_error(aws_env):
    client, stub = stubbed_elbv2()
    stub.add_response(
        "describe_load_balancers", {"LoadBalancers": [{"LoadBalancerName": "k8s-shop-web-0123456789"}]}
    )
    state = f.make_state(nlb_service({"DNSName": LB_HOST}), reads=set())
    with stub:
        collect_aws(state, set(AWS_READS), clients={"elbv2": client})  # no LoadBalancerArn: unusable answer
    assert any("unexpectedly" in v for v in state.read_errors.values())


def test_iam_read_actions_are_exactly_the_declared_operations():
    from checks.collect.aws import IAM_READ_ACTIONS

    assert "elasticloadbalancing:DescribeTargetHealth" in IAM_READ_ACTIONS
    assert "ec2:DescribeDhcpOptions" in IAM_READ_ACTIONS
    assert all(a.split(":")[1].startswith("Describe") for a in IAM_READ_ACTIONS)  # read-only
    assert len(IAM_READ_ACTIONS) == 12


def test_region_from_a_target_group_binding_arn(aws_env):
    tgb = {
        "apiVersion": "elbv2.k8s.aws/v1beta1",
        "kind": "TargetGroupBinding",
        "metadata": {"name": "b", "namespace": "shop"},
        "spec": {
            "serviceRef": {"name": "web", "port": 80},
            "targetGroupARN": "arn:aws:elasticloadbalancing:eu-west-3:1:targetgroup/x/1",
        },
    }
    assert resolve_region(f.make_state(f.service(), tgb)) == "eu-west-3"
