"""From an alarm's load balancer to the Service: fake Kubernetes API, moto (ELBv2), local Tencent API, dumps."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from checks.collect.alarm_map import Clients, ClusterRef
from checks.collect.aws_alarm_map import map_aws
from checks.collect.tencent_alarm_map import map_tencent
from tests import factories as f
from tests.fakes.kube_api import FakeKubeAPI
from tests.fakes.tencent_api import FakeTencentAPI

REGION = "eu-west-1"


@pytest.fixture
def aws_env(monkeypatch):
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield boto3.client("elbv2", region_name=REGION)


def make_tg(elbv2, name: str, tags: dict[str, str]) -> str:
    vpc = boto3.client("ec2", region_name=REGION).create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    arn = elbv2.create_target_group(Name=name, Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
    if tags:
        elbv2.add_tags(ResourceArns=[arn], Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
    return arn


def tgb(name: str, namespace: str, service: str, arn: str) -> dict:
    return {"apiVersion": "elbv2.k8s.aws/v1beta1", "kind": "TargetGroupBinding",
            "metadata": {"name": name, "namespace": namespace, "labels": {"service.k8s.aws/stack-name": service}},
            "spec": {"serviceRef": {"name": service, "port": 80}, "targetGroupARN": arn, "targetType": "ip"}}


def ingress(name: str, namespace: str, service: str) -> dict:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": name, "namespace": namespace},
            "spec": {"ingressClassName": "alb", "rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix",
                     "backend": {"service": {"name": service, "port": {"number": 80}}}}]}}]}}


def clients(kube: FakeKubeAPI | None = None, **kw) -> Clients:
    return Clients(kube=(lambda ctx: kube.api_client()) if kube else None, **kw)


def test_target_group_binding_wins_without_any_aws_call(aws_env):
    arn = f"arn:aws:elasticloadbalancing:{REGION}:123456789012:targetgroup/k8s-shop-web-6f3c1b2a9d/73e2d6bc24d8a067"
    other = arn.replace("shop-web", "shop-api")
    with FakeKubeAPI([tgb("k8s-shop-api-1", "shop", "api", other), tgb("k8s-shop-web-1", "shop", "web", arn)]).start() as kube:
        m = map_aws([arn], region=REGION, clients=clients(kube, elbv2=lambda r: pytest.fail("no AWS call expected")))
        assert m.services == ["shop/web"] and m.how == "TargetGroupBinding shop/k8s-shop-web-1" and m.why is None
        assert m.api_calls == {"k8s": 1}
        assert kube.count(verb="list", resource="targetgroupbindings", cluster_wide=True) == 1


def test_service_stack_tag(aws_env):
    arn = make_tg(aws_env, "k8s-pay-api-0f1e2d3c4b", {"service.k8s.aws/stack": "pay/api", "service.k8s.aws/resource": "pay/api:443",
                                                       "elbv2.k8s.aws/cluster": "prod"})
    with FakeKubeAPI([], absent_apis={"elbv2.k8s.aws/v1beta1"}).start() as kube:
        m = map_aws([arn], region=REGION, clients=clients(kube))
    assert m.services == ["pay/api"] and "service.k8s.aws/stack=pay/api" in m.how
    assert m.lb["aws_cluster_tag"] == "prod" and m.api_calls == {"k8s": 1, "aws": 1}


def test_ingress_tags_lead_through_the_ingress_to_its_backend(aws_env):
    arn = make_tg(aws_env, "k8s-shop-webingre-1", {"ingress.k8s.aws/stack": "shop/web-ingress",
                                                    "ingress.k8s.aws/resource": "shop/web-ingress-web:80"})
    with FakeKubeAPI([ingress("web-ingress", "shop", "web")]).start() as kube:
        m = map_aws([arn], region=REGION, clients=clients(kube))
        assert kube.count(verb="list", resource="ingresses", namespace="shop") == 1
    assert m.services == ["shop/web"] and "ingress.k8s.aws/resource" in m.how


def test_in_tree_service_name_tag(aws_env):
    arn = make_tg(aws_env, "k8s-legacy-old", {"kubernetes.io/service-name": "legacy/old", "kubernetes.io/cluster/prod": "owned"})
    with FakeKubeAPI([]).start() as kube:
        m = map_aws([arn], region=REGION, clients=clients(kube))
    assert m.services == ["legacy/old"]


def test_untagged_target_group_says_why_and_keeps_the_lb_for_cloud_checks(aws_env):
    arn = make_tg(aws_env, "hand-made", {"team": "web"})
    with FakeKubeAPI([]).start() as kube:
        m = map_aws([arn], region=REGION, load_balancer_arn="arn:lb", clients=clients(kube))
    assert m.services == [] and "no TargetGroupBinding" in m.why and "service.k8s.aws/stack" in m.why
    assert m.lb == {"aws_target_groups": [arn], "aws_region": REGION, "aws_load_balancer": "arn:lb"}


def test_load_balancer_only_alarm():
    m = map_aws([], region=REGION, load_balancer_arn="arn:aws:elasticloadbalancing:eu-west-1:1:loadbalancer/app/x/1")
    assert m.services == [] and "not a target group" in m.why


def test_kubernetes_unreachable_falls_back_to_tags(aws_env):
    arn = make_tg(aws_env, "k8s-pay-api-2", {"service.k8s.aws/stack": "pay/api"})
    with FakeKubeAPI([], forbidden={("list", "targetgroupbindings", None)}).start() as kube:
        m = map_aws([arn], region=REGION, clients=clients(kube))
    assert m.services == ["pay/api"]


def test_offline_cluster_from_dumps(tmp_path):
    arn = f"arn:aws:elasticloadbalancing:{REGION}:123456789012:targetgroup/k8s-shop-web-6f3c1b2a9d/73e2d6bc24d8a067"
    (tmp_path / "tgb.json").write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": [tgb("b", "shop", "web", arn)]}))
    m = map_aws([arn], region=REGION, clusters=[ClusterRef(name="support", sources=[str(tmp_path)])],
                clients=Clients(kube=lambda c: pytest.fail("offline"), elbv2=lambda r: pytest.fail("offline")))
    assert m.services == ["shop/web"] and m.cluster == "support"


def test_dispatch_goes_to_the_alarms_provider_with_the_clusters_of_its_cloud(tmp_path):
    """map_alarm asks the provider the alarm names, with only the clusters of that cloud (or of none named)."""
    from bot.webhooks.alarms import parse_cloudwatch
    from checks.collect.alarm_map import map_alarm
    from tests.webhooks import payloads as p

    alarm = parse_cloudwatch(json.dumps(p.cloudwatch_alb()), message_id="m-dispatch")
    eks, tke = tmp_path / "eks", tmp_path / "tke"
    for where, service in ((eks, "web"), (tke, "decoy")):
        where.mkdir()
        (where / "tgb.json").write_text(json.dumps({"apiVersion": "v1", "kind": "List",
                                                    "items": [tgb("b", "shop", service, alarm.target_groups[0])]}))
    offline = Clients(kube=lambda c: pytest.fail("offline"), elbv2=lambda r: pytest.fail("offline"))
    m = map_alarm(alarm.to_dict(), clients=offline, clusters=[ClusterRef(name="tke", cloud="tencent", sources=[str(tke)]),
                                                              ClusterRef(name="eks", cloud="aws", sources=[str(eks)])])
    assert (m.services, m.cluster) == (["shop/web"], "eks")
    unknown = map_alarm({**alarm.to_dict(), "provider": "gce"}, clients=offline)
    assert unknown.services == [] and unknown.why == "no provider 'gce' is registered to find the Service behind this alarm"


# ---- Tencent ------------------------------------------------------------------------------------------


def clb(lb_id="lb-abc12345", vip="127.0.0.80"):
    return {"LoadBalancerId": lb_id, "LoadBalancerName": "tke-shop-web", "LoadBalancerType": "OPEN", "Forward": 1,
            "LoadBalancerVips": [vip], "Status": 1, "VpcId": "vpc-1", "Tags": [{"TagKey": "tke-clusterId", "TagValue": "cls-abc"}]}


@pytest.fixture
def tencent(monkeypatch):
    with FakeTencentAPI() as api:
        monkeypatch.setenv("LBHEALTH_TENCENT_ENDPOINT", api.url)
        monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", "AKIDtest")
        monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", "secret")
        yield api


def test_clb_by_vip_then_service_annotation(tencent):
    tencent.cloud.add_load_balancer(clb())
    svc = f.service("web", "shop", annotations={"service.kubernetes.io/loadbalance-id": "lb-abc12345"})
    other = f.service("api", "shop", annotations={"service.kubernetes.io/loadbalance-id": "lb-other000"})
    with FakeKubeAPI([svc, other]).start() as kube:
        m = map_tencent(vip="127.0.0.80", port=80, protocol="tcp", region="ap-guangzhou", clients=clients(kube))
    assert m.services == ["shop/web"] and "loadbalance-id" in m.how
    assert m.lb["tencent_lb"]["id"] == "lb-abc12345"
    assert tencent.bodies("DescribeLoadBalancers") == [{"LoadBalancerVips": ["127.0.0.80"]}]
    assert m.api_calls == {"tencent": 1, "k8s": 1}


def test_clb_by_id_and_ingress_ip(tencent):
    tencent.cloud.add_load_balancer(clb("lb-zz998877", vip="127.0.0.81"))
    svc = f.service("web", "shop", ingress_ip="127.0.0.81")
    with FakeKubeAPI([svc]).start() as kube:
        m = map_tencent(vip=None, lb_id="lb-zz998877", port=None, region="ap-guangzhou", clients=clients(kube))
    assert m.services == ["shop/web"] and "127.0.0.81" in m.how
    assert tencent.bodies("DescribeLoadBalancers") == [{"LoadBalancerIds": ["lb-zz998877"]}]


def test_clb_unknown_vip_says_why(tencent):
    with FakeKubeAPI([]).start() as kube:
        m = map_tencent(vip="127.0.0.99", port=80, region="ap-guangzhou", clients=clients(kube))
    assert m.services == [] and "no CLB with VIP 127.0.0.99" in m.why
    assert m.lb["tencent_lb"]["vip"] == "127.0.0.99"


def test_clb_without_a_service(tencent):
    tencent.cloud.add_load_balancer(clb())
    with FakeKubeAPI([f.service("api", "shop")]).start() as kube:
        m = map_tencent(vip="127.0.0.80", port=80, region="ap-guangzhou", clients=clients(kube))
    assert m.services == [] and "loadbalance-id=lb-abc12345" in m.why and m.lb["tencent_lb"]["id"] == "lb-abc12345"


@pytest.mark.parametrize("code, why", [("TargetGroupNotFound", "does not exist"), ("AccessDenied", "not allowed for the bot's IAM role"),
                                       ("Throttling", "DescribeTags failed")])
def test_describe_tags_errors_become_reasons(code, why):
    # real ELBv2 raises TargetGroupNotFound / AccessDenied; moto cannot, so botocore's Stubber does
    from botocore.stub import Stubber

    elbv2 = boto3.client("elbv2", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="y")
    arn = f"arn:aws:elasticloadbalancing:{REGION}:123456789012:targetgroup/gone/0123456789abcdef"
    with Stubber(elbv2) as stub, FakeKubeAPI([]).start() as kube:
        stub.add_client_error("describe_tags", service_error_code=code, http_status_code=400)
        m = map_aws([arn], region=REGION, clients=clients(kube, elbv2=lambda r: elbv2))
    assert m.services == [] and why in m.why


def test_clb_of_an_ingress_leads_to_its_backend_services(tencent):
    tencent.cloud.add_load_balancer(clb("lb-ing00001", vip="127.0.0.82"))
    ing = ingress("mall", "mall", "order")
    ing["metadata"]["annotations"] = {"kubernetes.io/ingress.qcloud-loadbalance-id": "lb-ing00001"}
    with FakeKubeAPI([ing, f.service("order", "mall", type="NodePort")]).start() as kube:
        m = map_tencent(vip="127.0.0.82", port=80, region="ap-guangzhou", clients=clients(kube))
        assert kube.count(verb="list", resource="ingresses", cluster_wide=True) == 1
    assert m.services == ["mall/order"] and m.how == "Ingress mall/mall on the CLB"


def test_explicit_ingress_group_tags(aws_env):
    arn = make_tg(aws_env, "k8s-sharedalb-1", {"ingress.k8s.aws/stack": "shared-alb",
                                                "ingress.k8s.aws/resource": "shop/web-ingress-web:80"})
    with FakeKubeAPI([ingress("web-ingress", "shop", "web"), ingress("other", "shop", "api")]).start() as kube:
        m = map_aws([arn], region=REGION, clients=clients(kube))
    assert m.services == ["shop/web"]
