"""A dump whose fields have types kubectl, the AWS CLI or tccli never print gets a message naming the
file, object and field (bad input, exit 2), not a crashed or misled check."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from bot.cli import main
from checks.collect.apishapes import document_problems
from checks.collect.dump import DumpError, load_state
from checks.collect.fieldtypes import field_type_problems
from checks.model import Target
from tests import aws_factories as a
from tests import factories as f
from tests import tencent_factories as tf

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _svc(**spec):
    svc = f.service()
    svc["spec"].update(spec)
    return svc


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (_svc(selector=["app=web"]), "Service shop/web: spec.selector is a list; kubectl prints a map of string: string there"),
        (_svc(ports="80"), "Service shop/web: spec.ports is the string '80'; kubectl prints a list there"),
        (_svc(ports=[{"port": "eighty", "targetPort": 80}]), "Service shop/web: spec.ports[0].port is the string 'eighty'"),
        (_svc(ports=[{"port": 80, "targetPort": True}]), "spec.ports[0].targetPort is the boolean true; kubectl prints a number or a port name"),
        (f.service(annotations={"service.beta.kubernetes.io/aws-load-balancer-healthcheck-interval": 10}),
         "metadata.annotations['service.beta.kubernetes.io/aws-load-balancer-healthcheck-interval'] is the number 10; "
         "kubectl prints a string there (quote it in YAML)"),
        (f.pod(containers=[f.container(ports=[{"containerPort": "8080"}])]),
         "Pod shop/web-1: spec.containers[0].ports[0].containerPort is the string '8080'; kubectl prints an integer there"),
        (f.node() | {"status": {"addresses": "127.0.1.1"}}, "Node node-1: status.addresses is the string '127.0.1.1'"),
    ],
)
def test_wrong_types_are_named_with_object_and_field(obj, message):
    problems = field_type_problems(obj)
    assert any(message in p for p in problems), problems


def test_real_objects_and_every_example_have_no_problem():
    objects = [f.service(), f.pod(containers=[f.container(readiness_path="/h", readiness_port="http")]), f.node(),
               f.endpoint_slice(), f.ingress(), f.event("Pod", "web-1"), f.daemonset(), f.deployment("lbc")]
    assert [p for o in objects for p in field_type_problems(o)] == []
    for path in EXAMPLES.rglob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            for item in doc.get("items") or [doc]:
                assert field_type_problems(item) == [], path


def test_diagnose_from_such_a_dump_exits_2_with_the_message(tmp_path, capsys):
    dump = tmp_path / "dump"
    dump.mkdir()
    svc = copy.deepcopy(f.service())
    svc["spec"]["selector"] = ["app=web"]
    (dump / "svc.yaml").write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": [svc, f.pod()]}))
    code = main(["diagnose", "shop/web", "--from", str(dump)])
    err = capsys.readouterr().err
    assert code == 2
    assert str(dump / "svc.yaml") in err and "Service shop/web: spec.selector is a list" in err
    assert "Traceback" not in err and "crashed" not in err


def test_cloud_cli_answers_with_wrong_types_name_the_file_and_field(tmp_path):
    health = {"TargetHealthDescriptions": [{"Target": {"Id": "10.0.1.5", "Port": "80"}, "TargetHealth": {"State": "unhealthy"}}],
              "TargetGroupArn": a.arn("targetgroup", "web/0123")}
    listeners = {"Listeners": [tf.listener(hc=tf.health_check(TimeOut="2s"))], "TotalCount": 1, "RequestId": "r-1"}
    for name, doc, message in [
        ("th.json", health, "TargetHealthDescriptions[0].Target.Port is the string '80'; aws elbv2 describe-target-health prints an integer there"),
        ("lst.json", listeners, "Listeners[0].HealthCheck.TimeOut is the string '2s'; tccli clb DescribeListeners prints an integer there"),
    ]:
        path = tmp_path / name
        path.write_text(json.dumps(doc))
        with pytest.raises(DumpError) as err:
            load_state(Target.parse("shop/web"), [str(path)])
        assert str(err.value) == f"{path}: {message}"


def test_keys_a_newer_cli_may_print_are_accepted_in_dumps():
    doc = {"TargetGroups": [a.target_group() | {"NewFeatureFlag": True}]}
    assert document_problems(doc) == []
    assert document_problems(doc, strict=True) and "NewFeatureFlag: no such key in TargetGroup" in document_problems(doc, strict=True)[0]
