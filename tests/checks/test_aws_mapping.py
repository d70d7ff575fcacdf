"""Pure mapping helpers: LB names from hostnames, Service <-> target group by tags and bindings."""

from __future__ import annotations

import pytest

from checks.providers.aws.mapping import (
    lb_name_from_hostname,
    region_from_hostname,
    services_for_target_group,
    tag_match,
    tg_arn_from_dimension,
)
from tests import aws_factories as a
from tests import factories as f


@pytest.mark.parametrize(
    "host,name",
    [
        (
            "k8s-default-albinsta-fcb010af73-2014729787.ap-southeast-2.elb.amazonaws.com",
            "k8s-default-albinsta-fcb010af73",
        ),
        (
            "k8s-default-nlbip-fff2442e46-ae4f8cf4a182dc4d.elb.ap-southeast-2.amazonaws.com",
            "k8s-default-nlbip-fff2442e46",
        ),
        (
            "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6-123456789.us-east-1.elb.amazonaws.com",
            "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6",
        ),
        (
            "internal-k8s-shop-web-0123456789-1234567890.us-east-1.elb.amazonaws.com",
            "k8s-shop-web-0123456789",
        ),
        ("web.example.com", None),
        ("", None),
        (None, None),
    ],
)
def test_lb_name_from_hostname(host, name):
    assert lb_name_from_hostname(host) == name


def test_region_from_hostname():
    assert (
        region_from_hostname("k8s-default-nlbip-fff2442e46-ae4f8cf4a182dc4d.elb.ap-southeast-2.amazonaws.com")
        == "ap-southeast-2"
    )
    assert (
        region_from_hostname("k8s-default-albinsta-fcb010af73-2014729787.ap-southeast-2.elb.amazonaws.com")
        == "ap-southeast-2"
    )
    assert region_from_hostname("example.com") is None


def test_tag_match_every_controller_shape():
    assert tag_match({"service.k8s.aws/stack": "shop/web"}, "shop", "web")
    assert tag_match({"service.k8s.aws/resource": "shop/web:80"}, "shop", "web")
    assert tag_match({"ingress.k8s.aws/resource": "shop/front-web:80"}, "shop", "web", ["front"])
    assert tag_match({"kubernetes.io/service-name": "shop/web"}, "shop", "web")
    assert not tag_match({"service.k8s.aws/stack": "shop/web2"}, "shop", "web")
    assert not tag_match({"ingress.k8s.aws/resource": "shop/front-web:80"}, "shop", "web", ["other"])
    assert not tag_match(None, "shop", "web")


def test_services_for_target_group_prefers_bindings():
    tgb = a.target_group_binding(tg_arn="arn:tg/1", service="web")
    assert services_for_target_group("arn:tg/1", {}, [tgb]) == [("shop", "web")]


def test_services_for_target_group_from_tags_map_or_own_tags():
    tags = {"arn:tg/2": {"service.k8s.aws/stack": "shop/api", "service.k8s.aws/resource": "shop/api:8080"}}
    assert services_for_target_group("arn:tg/2", tags) == [("shop", "api")]
    assert services_for_target_group("arn:tg/2", tags["arn:tg/2"]) == [("shop", "api")]
    assert services_for_target_group("arn:tg/3", tags) == []


def test_services_for_target_group_ingress_resource_split_by_ingress():
    ing = f.ingress("front-door", service_name="web-api")
    own = {
        "ingress.k8s.aws/resource": "shop/front-door-web-api:80",
        "ingress.k8s.aws/stack": "shop/front-door",
    }
    assert services_for_target_group("arn", own, (), [ing]) == [("shop", "web-api")]
    # without the Ingress object the implicit group's stack tag names the Ingress
    assert services_for_target_group("arn", own, (), []) == [("shop", "web-api")]


def test_tg_arn_from_dimension():
    assert (
        tg_arn_from_dimension("targetgroup/my-targets/73e2d6bc24d8a067", "us-east-1", "123456789012")
        == "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/my-targets/73e2d6bc24d8a067"
    )
    assert tg_arn_from_dimension("app/x/1", "us-east-1", "1") is None
