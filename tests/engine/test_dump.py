"""Offline mode: files recognised by content, in every accepted shape, and clear errors."""

from __future__ import annotations

import json

import pytest
import yaml

from checks.collect.dump import DumpError, load_state
from checks.collect.snapshot import write_snapshot
from checks.model import Target
from tests import factories as f

T = Target.parse("shop/web")


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def test_kubectl_list_json_and_multidoc_yaml_and_typed_list(tmp_path):
    write(tmp_path, "a.json", {"apiVersion": "v1", "kind": "List", "items": [f.service(), f.node()]})
    write(tmp_path, "b.yaml", yaml.safe_dump_all([f.pod("web-1"), f.pod("web-2", ip="127.0.0.3")]))
    item = f.endpoint_slice()
    del item["kind"]
    write(
        tmp_path,
        "c.json",
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSliceList", "items": [item]},
    )
    state = load_state(T, [str(tmp_path)])
    assert state.service["metadata"]["name"] == "web"
    assert [p["metadata"]["name"] for p in state.selected_pods] == ["web-1", "web-2"]
    assert len(state.endpoint_slices) == 1 and state.endpoint_slices[0]["kind"] == "EndpointSlice"
    assert {"k8s.service", "k8s.pods", "k8s.endpoints", "k8s.nodes"} <= state.reads_done
    assert "k8s.networkpolicies" not in state.reads_done
    assert "kubectl get networkpolicy -n shop" in state.why_not_read("k8s.networkpolicies")
    assert state.options["probe"] is False and "probe" in state.skipped_reads


def test_aws_cli_outputs_recognised(tmp_path):
    arn = "arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/tg/0123456789abcdef"
    write(tmp_path, "1.json", {"TargetGroups": [{"TargetGroupArn": arn, "TargetType": "ip"}]})
    write(
        tmp_path,
        "2.json",
        {
            "TargetGroupArn": arn,
            "TargetHealthDescriptions": [
                {"Target": {"Id": "127.0.0.2", "Port": 80}, "TargetHealth": {"State": "healthy"}}
            ],
        },
    )
    write(
        tmp_path,
        "3.json",
        {
            "TagDescriptions": [
                {"ResourceArn": arn, "Tags": [{"Key": "service.k8s.aws/stack", "Value": "shop/web"}]}
            ]
        },
    )
    write(tmp_path, "4.json", {"SecurityGroups": [{"GroupId": "sg-1"}]})
    write(
        tmp_path, "5.json", {"Reservations": [{"Instances": [{"InstanceId": "i-1"}, {"InstanceId": "i-2"}]}]}
    )
    write(
        tmp_path,
        "6.json",
        {
            "LoadBalancers": [
                {"LoadBalancerArn": "arn:aws:elasticloadbalancing:eu-west-1:1:loadbalancer/net/x/1"}
            ]
        },
    )
    state = load_state(T, [str(tmp_path)])
    assert state.aws.target_health[arn][0]["TargetHealth"]["State"] == "healthy"
    assert state.aws.tags[arn] == {"service.k8s.aws/stack": "shop/web"}
    assert [i["InstanceId"] for i in state.aws.instances] == ["i-1", "i-2"]
    assert state.aws.region == "eu-west-1"
    assert {"aws.elbv2", "aws.target_health", "aws.ec2_network", "aws.instances"} <= state.reads_done


def test_target_health_without_arn_needs_it_when_ambiguous(tmp_path):
    write(tmp_path, "1.json", {"TargetGroups": [{"TargetGroupArn": "a"}, {"TargetGroupArn": "b"}]})
    write(tmp_path, "2.json", {"TargetHealthDescriptions": []})
    with pytest.raises(DumpError, match="TargetGroupArn"):
        load_state(T, [str(tmp_path)])


def test_tccli_outputs_recognised_with_and_without_response_wrapper(tmp_path):
    write(
        tmp_path,
        "lb.json",
        {
            "Response": {
                "TotalCount": 1,
                "LoadBalancerSet": [{"LoadBalancerId": "lb-1", "LoadBalancerVips": ["127.0.0.9"]}],
                "RequestId": "r",
            }
        },
    )
    write(
        tmp_path,
        "l.json",
        {
            "Listeners": [
                {"ListenerId": "lbl-1", "Protocol": "TCP", "Port": 80, "HealthCheck": {"HealthSwitch": 1}}
            ],
            "TotalCount": 1,
        },
    )
    write(
        tmp_path,
        "t.json",
        {"Listeners": [{"ListenerId": "lbl-1", "Targets": [{"Type": "CVM", "Port": 30080}]}]},
    )
    write(tmp_path, "h.json", {"LoadBalancers": [{"LoadBalancerId": "lb-1", "Listeners": []}]})
    write(
        tmp_path,
        "sg.json",
        {"SecurityGroupId": "sg-1", "SecurityGroupPolicySet": {"Ingress": [], "Egress": []}},
    )
    write(tmp_path, "cvm.json", {"InstanceSet": [{"InstanceId": "ins-1"}], "TotalCount": 1})
    state = load_state(T, [str(tmp_path)])
    tc = state.tencent
    assert tc.load_balancers[0]["LoadBalancerId"] == "lb-1"
    assert tc.listeners["lb-1"][0]["ListenerId"] == "lbl-1"
    assert tc.targets["lb-1"][0]["Targets"][0]["Port"] == 30080
    assert tc.target_health[0]["LoadBalancerId"] == "lb-1"
    assert "sg-1" in tc.security_group_policies and tc.instances[0]["InstanceId"] == "ins-1"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{ not json", "invalid JSON at line 1"),
        ("kind: Service\n  bad: [indent", "invalid YAML"),
        (json.dumps({"Something": 1}), "not output lbhealth recognises"),
        (json.dumps({"apiVersion": "v1", "kind": "Service", "metadata": {}}), "without metadata.name"),
        (json.dumps([1, 2]), "expected an object"),
        (
            json.dumps({"Response": {"Error": {"Code": "AuthFailure", "Message": "bad"}, "RequestId": "x"}}),
            "AuthFailure",
        ),
    ],
)
def test_malformed_dump_names_the_file_and_the_problem(tmp_path, content, expected):
    path = write(tmp_path, "broken.yaml", content)
    with pytest.raises(DumpError) as err:
        load_state(T, [str(path)])
    assert str(path) in str(err.value) and expected in str(err.value)


def test_missing_path_and_empty_directory(tmp_path):
    with pytest.raises(DumpError, match="no such file"):
        load_state(T, [str(tmp_path / "nope")])
    with pytest.raises(DumpError, match="no files found"):
        load_state(T, [str(tmp_path)])


def test_snapshot_round_trips_through_the_loader(tmp_path):
    src = load_state(T, ["examples/targetport-mismatch"])
    src.k8s.logs[("shop", "web-1", "web", True)] = "panic: boom"
    src.tencent.listeners["lb-1"] = [{"ListenerId": "lbl-1", "Protocol": "TCP", "Port": 80}]
    src.tencent.load_balancers.append({"LoadBalancerId": "lb-1"})
    write_snapshot(src, tmp_path / "snap")
    again = load_state(T, [str(tmp_path / "snap")])
    assert {k: len(v) for k, v in again.k8s.objects.items()} == {
        k: len(v) for k, v in src.k8s.objects.items()
    }
    assert again.aws.target_health == src.aws.target_health
    assert again.aws.target_groups == src.aws.target_groups
    assert again.k8s.logs == src.k8s.logs
    assert again.tencent.listeners == src.tencent.listeners


def test_kubectl_describe_output_gets_a_pointed_hint(tmp_path):
    path = write(
        tmp_path,
        "describe.txt",
        "Name:              web\nNamespace:         shop\nSelector:          app=web\nType:              LoadBalancer\n",
    )
    with pytest.raises(DumpError, match="kubectl describe"):
        load_state(T, [str(path)])
