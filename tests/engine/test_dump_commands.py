"""The commands a skip tells a person to add to a dump must save a file the dump loader accepts as is.

describe-target-health and DescribeSecurityGroupPolicies do not print which target group or security
group they describe; the printed commands add it with the CLIs' own JMESPath option (`--query`,
`--filter`). Here that expression runs through jmespath, the library both CLIs use, over output in
the SDKs' shapes, and the result goes through the dump loader with two groups in the dump."""

from __future__ import annotations

import json
import shlex

import jmespath

from checks.collect.dump import load_state
from checks.model import Target
from checks.providers.aws import TARGET_HEALTH_DUMP
from checks.providers.tencent import SG_POLICIES_DUMP

ARNS = [f"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/k8s-shop-web-{i}/0123456789abcdef" for i in (1, 2)]


def _option(command: str, name: str) -> str:
    words = shlex.split(command)
    return words[words.index(name) + 1]


def _save(tmp_path, name: str, doc) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return str(path)


def test_the_printed_describe_target_health_command_saves_a_loadable_file(tmp_path):
    command = TARGET_HEALTH_DUMP.format_map({"region": " --region us-east-1", "tg": ARNS[1]})
    output = {"TargetHealthDescriptions": [{"Target": {"Id": "i-0123456789abcdef0", "Port": 30080},
                                            "HealthCheckPort": "30080",
                                            "TargetHealth": {"State": "unhealthy", "Reason": "Target.Timeout"}}]}
    saved = jmespath.search(_option(command, "--query"), output)
    groups = {"TargetGroups": [{"TargetGroupArn": arn, "TargetGroupName": arn.split("/")[1]} for arn in ARNS]}
    state = load_state(Target("shop", "web"), [_save(tmp_path, "tgs.json", groups), _save(tmp_path, "th.json", saved)])
    assert set(state.aws.target_health) == {ARNS[1]}
    assert state.aws.target_health[ARNS[1]] == output["TargetHealthDescriptions"]


def test_the_printed_describe_security_group_policies_command_saves_a_loadable_file(tmp_path):
    command = SG_POLICIES_DUMP.format_map({"region": ""}).replace("<sg-id>", "sg-0a1b2c3d")
    output = {"SecurityGroupPolicySet": {"Version": "3", "Ingress": [
        {"PolicyIndex": 0, "Protocol": "TCP", "Port": "30080", "CidrBlock": "127.0.0.0/8", "Action": "DROP"}], "Egress": []},
        "RequestId": "6f6b-4a1c"}
    saved = jmespath.search(_option(command, "--filter"), output)
    other = {"SecurityGroupId": "sg-99999999", "SecurityGroupPolicySet": {"Version": "1", "Ingress": [], "Egress": []}}
    state = load_state(Target("shop", "web"), [_save(tmp_path, "a.json", saved), _save(tmp_path, "b.json", other)])
    assert state.tencent.security_group_policies["sg-0a1b2c3d"] == output["SecurityGroupPolicySet"]
