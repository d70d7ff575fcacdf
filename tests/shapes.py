"""Validate data against the SDKs' own models: what the real APIs can return, and nothing else.

Fixtures, fake API answers and bundled examples are written by hand, so they drift from what
the APIs really return (a `PolicyDescription` where Tencent's `NetworkAclEntry` has
`Description`). Each validator walks the data beside the SDK's model and returns the problems
as readable strings (`path: what is wrong`); an empty list means the data has the real shape.

- AWS and Tencent: checks/collect/{aws,tencent}_shapes.py (through apishapes.py) in strict mode (botocore's output shapes: keys,
  types, enums, no nulls; the tencentcloud SDK model classes: attribute names and types).
- Kubernetes: the official client's models (`openapi_types`/`attribute_map`, recursively), and
  required fields through the client's own deserializer.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client as k8s_client

from checks.collect import apishapes, aws_shapes, tencent_shapes
from checks.collect.aws_shapes import aws_output_shape
from checks.collect.tencent_shapes import tencent_model
from checks.state import State

# AWS and Tencent: the same walk the dump loader uses (checks/collect/{aws,tencent}_shapes.py), strict here.


def aws_member_shape(service: str, operation: str, *path: str):
    """The shape at `path` below an operation's output: ("TargetGroups", "member") -> TargetGroup."""
    shape = aws_output_shape(service, operation)
    for step in path:
        shape = shape.member if step == "member" else shape.members[step]
    return shape


def aws_problems(shape, data: Any, path: str = "") -> list[str]:
    return aws_shapes.aws_problems(shape, data, path, strict=True)


def tencent_problems(model, data: Any, path: str = "") -> list[str]:
    return tencent_shapes.tencent_problems(model, data, path, strict=True)


# ---- Kubernetes (the official client's models) ------------------------------------------------------

_K8S_MODELS = {
    ("v1", "Service"): "V1Service",
    ("v1", "Pod"): "V1Pod",
    ("v1", "Node"): "V1Node",
    ("v1", "Endpoints"): "V1Endpoints",
    ("v1", "Event"): "CoreV1Event",
    ("v1", "ConfigMap"): "V1ConfigMap",
    ("v1", "Namespace"): "V1Namespace",
    ("discovery.k8s.io/v1", "EndpointSlice"): "V1EndpointSlice",
    ("networking.k8s.io/v1", "Ingress"): "V1Ingress",
    ("networking.k8s.io/v1", "IngressClass"): "V1IngressClass",
    ("networking.k8s.io/v1", "NetworkPolicy"): "V1NetworkPolicy",
    ("apps/v1", "DaemonSet"): "V1DaemonSet",
    ("apps/v1", "Deployment"): "V1Deployment",
    ("apps/v1", "ReplicaSet"): "V1ReplicaSet",
    ("events.k8s.io/v1", "Event"): "EventsV1Event",
}
# Custom resources have no model in the client; what we read of them is checked by the checks' tests.
K8S_CUSTOM_KINDS = {"TargetGroupBinding"}
_K8S_SCALARS = {"str": (str,), "int": (int,), "bool": (bool,), "float": (int, float), "datetime": (str,), "date": (str,)}


def k8s_model_name(obj: dict[str, Any]) -> str | None:
    return _K8S_MODELS.get((obj.get("apiVersion"), obj.get("kind")))


def _k8s_value(type_name: str, value: Any, path: str) -> list[str]:
    if value is None:
        return []  # the API server omits empty fields; null is what a client prints for them
    if type_name.lower().startswith("list["):
        if not isinstance(value, list):
            return [f"{path}: {type(value).__name__}, expected a list ({type_name})"]
        inner = type_name[5:-1]
        return [p for i, v in enumerate(value) for p in _k8s_value(inner, v, f"{path}[{i}]")]
    if type_name.lower().startswith(("dict(", "dict[")):
        if not isinstance(value, dict):
            return [f"{path}: {type(value).__name__}, expected an object ({type_name})"]
        inner = type_name[5:-1].split(", ", 1)[1]
        return [p for k, v in value.items() for p in _k8s_value(inner, v, f"{path}[{k!r}]")]
    if type_name == "object":
        return []  # int-or-string, quantities, raw extensions
    if type_name in _K8S_SCALARS:
        expected = _K8S_SCALARS[type_name]
        if isinstance(value, bool) and bool not in expected or not isinstance(value, expected):
            return [f"{path}: {type(value).__name__} {value!r}, expected {type_name}"]
        return []
    return k8s_problems(type_name, value, path)


def k8s_problems(model_name: str, data: Any, path: str = "$") -> list[str]:
    """Problems of `data` against a kubernetes client model (unknown keys, wrong types, missing required)."""
    model = getattr(k8s_client.models, model_name)
    if not isinstance(data, dict):
        return [f"{path}: {type(data).__name__}, expected an object ({model_name})"]
    by_json = {json_key: attr for attr, json_key in model.attribute_map.items()}
    out = []
    for key, value in data.items():
        attr = by_json.get(key)
        if attr is None:
            out.append(f"{path}.{key}: no such field in {model_name}")
        else:
            out += _k8s_value(model.openapi_types[attr], value, f"{path}.{key}")
    if path == "$" and not out:
        out += _k8s_required(model_name, data)
    return out


def _k8s_required(model_name: str, data: dict[str, Any]) -> list[str]:
    """The client's own deserializer refuses an object missing a required field."""
    api = k8s_client.ApiClient()
    try:
        api._ApiClient__deserialize(data, model_name)  # the only entry point that takes a dict
    except ValueError as exc:  # pydantic's ValidationError is a ValueError too
        errors = getattr(exc, "errors", None)
        if errors is None:
            return [f"$: {model_name}: {exc}"]
        return [f"$: {exc.title}.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors()]
    return []


def k8s_object_problems(obj: Any, where: str = "$") -> list[str]:
    if not isinstance(obj, dict):
        return [f"{where}: {type(obj).__name__}, expected a Kubernetes object"]
    if obj.get("kind") in K8S_CUSTOM_KINDS:
        return []
    name = k8s_model_name(obj)
    if name is None:
        return [f"{where}: no kubernetes client model for apiVersion {obj.get('apiVersion')!r} kind {obj.get('kind')!r}"]
    return [p.replace("$", where, 1) for p in k8s_problems(name, obj)]


# ---- a whole State -------------------------------------------------------------------------------

_AWS_SLICES = {  # State.aws attribute -> (service, operation, path to one element)
    "load_balancers": ("elbv2", "DescribeLoadBalancers", ("LoadBalancers", "member")),
    "target_groups": ("elbv2", "DescribeTargetGroups", ("TargetGroups", "member")),
    "listeners": ("elbv2", "DescribeListeners", ("Listeners", "member")),
    "security_groups": ("ec2", "DescribeSecurityGroups", ("SecurityGroups", "member")),
    "network_acls": ("ec2", "DescribeNetworkAcls", ("NetworkAcls", "member")),
    "route_tables": ("ec2", "DescribeRouteTables", ("RouteTables", "member")),
    "subnets": ("ec2", "DescribeSubnets", ("Subnets", "member")),
    "instances": ("ec2", "DescribeInstances", ("Reservations", "member", "Instances", "member")),
    "dhcp_options": ("ec2", "DescribeDhcpOptions", ("DhcpOptions", "member")),
    "vpcs": ("ec2", "DescribeVpcs", ("Vpcs", "member")),
}
_TC_SLICES = {  # State.tencent attribute -> model of one element
    "load_balancers": ("clb", "LoadBalancer"),
    "listeners": ("clb", "Listener"),  # per CLB
    "targets": ("clb", "ListenerBackend"),  # per CLB
    "target_health": ("clb", "LoadBalancerHealth"),
    "security_group_policies": ("vpc", "SecurityGroupPolicySet"),  # per security group
    "network_acls": ("vpc", "NetworkAcl"),
    "network_interfaces": ("vpc", "NetworkInterface"),
    "subnets": ("vpc", "Subnet"),
    "instances": ("cvm", "Instance"),
}


def state_problems(state: State) -> list[str]:
    """Every shape problem of the cloud and Kubernetes data a State holds."""
    out: list[str] = []
    for attr, (service, op, path) in _AWS_SLICES.items():
        shape = aws_member_shape(service, op, *path)
        for i, item in enumerate(getattr(state.aws, attr)):
            out += aws_problems(shape, item, f"aws.{attr}[{i}]")
    thd = aws_member_shape("elbv2", "DescribeTargetHealth", "TargetHealthDescriptions", "member")
    for arn, items in state.aws.target_health.items():
        out += [p for i, item in enumerate(items) for p in aws_problems(thd, item, f"aws.target_health[{arn}][{i}]")]
    for attr, (product, name) in _TC_SLICES.items():
        model = tencent_model(product, name)
        value = getattr(state.tencent, attr)
        if attr == "security_group_policies":
            out += [p for sg, v in value.items() for p in tencent_problems(model, v, f"tencent.{attr}[{sg}]")]
        elif isinstance(value, dict):
            for key, items in value.items():
                out += [p for i, v in enumerate(items) for p in tencent_problems(model, v, f"tencent.{attr}[{key}][{i}]")]
        else:
            out += [p for i, v in enumerate(value) for p in tencent_problems(model, v, f"tencent.{attr}[{i}]")]
    for kind, objs in state.k8s.objects.items():
        for i, obj in enumerate(objs):
            out += k8s_object_problems(obj, f"k8s.{kind}[{i}]")
    return out


# ---- dump files --------------------------------------------------------------------------------------


def document_problems(doc: Any, where: str) -> list[str]:
    """Problems of one parsed dump document: a Kubernetes object or List, or a cloud CLI response."""
    if not isinstance(doc, dict):
        return [f"{where}: {type(doc).__name__}, expected an object"]
    if "apiVersion" in doc and "kind" in doc:
        if doc["kind"] == "List" or doc["kind"].endswith("List"):
            return [p for i, item in enumerate(doc.get("items") or []) for p in k8s_object_problems(item, f"{where}.items[{i}]")]
        return k8s_object_problems(doc, where)
    if apishapes.response_model(doc) is None:
        return [f"{where}: neither a Kubernetes object nor a known AWS CLI / tccli response"]
    return [f"{where}: {p}" for p in apishapes.document_problems(doc, strict=True)]
