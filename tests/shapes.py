"""Validate data against the SDKs' own models: what the real APIs can return, and nothing else.

Fixtures, fake API answers and bundled examples are written by hand, so they drift from what
the APIs really return (a `PolicyDescription` where Tencent's `NetworkAclEntry` has
`Description`). Each validator walks the data beside the SDK's model and returns the problems
as readable strings (`path: what is wrong`); an empty list means the data has the real shape.

- AWS: botocore's service models (`output_shape` of an operation): keys, types, enums.
- Tencent: the tencentcloud SDK model classes: attribute names, and the type each property's
  docstring declares (`:rtype: int`, `list of NetworkAclEntry`, ...). Null is accepted for any
  field: the APIs print null for absent values (`"Rules": null` on an L4 listener) and the SDK's
  own `_deserialize` accepts it everywhere, while its docstrings flag only some such fields.
- Kubernetes: the official client's models (`openapi_types`/`attribute_map`, recursively), and
  required fields through the client's own deserializer.
"""

from __future__ import annotations

import functools
import importlib
import re
from typing import Any

import botocore.session
from kubernetes import client as k8s_client

from checks.state import State

# ---- AWS (botocore) ------------------------------------------------------------------------------


@functools.cache
def _aws_service(name: str):
    return botocore.session.get_session().get_service_model(name)


def aws_output_shape(service: str, operation: str):
    return _aws_service(service).operation_model(operation).output_shape


def aws_member_shape(service: str, operation: str, *path: str):
    """The shape at `path` below an operation's output: ("TargetGroups", "member") -> TargetGroup."""
    shape = aws_output_shape(service, operation)
    for step in path:
        shape = shape.member if step == "member" else shape.members[step]
    return shape


_AWS_SCALARS = {
    "string": (str,),
    "integer": (int,),
    "long": (int,),
    "boolean": (bool,),
    "double": (int, float),
    "float": (int, float),
    "timestamp": (str, int, float),  # the AWS CLI prints ISO 8601; boto3 gives datetimes
    "blob": (str, bytes),
}


def aws_problems(shape, data: Any, path: str = "$") -> list[str]:
    """Problems of `data` against a botocore shape (unknown keys, wrong types, values outside enums)."""
    kind = shape.type_name
    if data is None:
        return [f"{path}: null ({shape.name} is never null in an AWS response: omit the key)"]
    if kind == "structure":
        if not isinstance(data, dict):
            return [f"{path}: {type(data).__name__}, expected an object ({shape.name})"]
        out = []
        for key, value in data.items():
            member = shape.members.get(key)
            if member is None:
                out.append(f"{path}.{key}: no such key in {shape.name} (has {', '.join(sorted(shape.members))})")
            else:
                out += aws_problems(member, value, f"{path}.{key}")
        return out
    if kind == "list":
        if not isinstance(data, list):
            return [f"{path}: {type(data).__name__}, expected a list ({shape.name})"]
        return [p for i, item in enumerate(data) for p in aws_problems(shape.member, item, f"{path}[{i}]")]
    if kind == "map":
        if not isinstance(data, dict):
            return [f"{path}: {type(data).__name__}, expected a map ({shape.name})"]
        return [p for k, v in data.items() for p in aws_problems(shape.value, v, f"{path}[{k!r}]")]
    expected = _AWS_SCALARS.get(kind, (object,))
    if isinstance(data, bool) and bool not in expected or not isinstance(data, expected):
        return [f"{path}: {type(data).__name__} {data!r}, expected {kind} ({shape.name})"]
    enum = getattr(shape, "enum", None)
    if enum and data not in enum:
        return [f"{path}: {data!r} is not one of {shape.name}'s values {sorted(enum)}"]
    return []


# ---- Tencent Cloud (tencentcloud SDK model classes) -----------------------------------------------

_TC_MODULES = {
    "clb": "tencentcloud.clb.v20180317.models",
    "vpc": "tencentcloud.vpc.v20170312.models",
    "cvm": "tencentcloud.cvm.v20170312.models",
}
_RTYPE = re.compile(r":rtype:\s*(.+)")
_CLASS = re.compile(r":class:`([\w.]+)`")
_TC_SCALARS = {"str": (str,), "int": (int,), "bool": (bool,), "float": (int, float)}


def tencent_model(product: str, name: str):
    return getattr(importlib.import_module(_TC_MODULES[product]), name)


def _resolve(class_path: str):
    module, _, name = class_path.rpartition(".")
    return getattr(importlib.import_module(module), name)


@functools.cache
def _tc_fields(model) -> dict[str, tuple[str, Any]]:
    """attribute -> (kind, element type) for a Tencent model class, from its properties' docstrings."""
    fields = {}
    for attr in vars(model()):
        name = attr[1:]
        doc = getattr(model, name).__doc__ or ""
        rtype = (_RTYPE.search(doc) or [None, "object"])[1].strip()
        if rtype.startswith("list of "):
            inner = rtype[len("list of "):].strip()
            cls = _CLASS.search(inner)
            module = model.__module__
            element = _resolve(cls[1]) if cls else (getattr(importlib.import_module(module), inner, None) or inner)
            fields[name] = ("list", element)
        elif cls := _CLASS.search(rtype):
            fields[name] = ("model", _resolve(cls[1]))
        else:
            fields[name] = ("scalar", rtype)
    return fields


def _tc_value(kind: str, element: Any, value: Any, path: str) -> list[str]:
    if kind == "model" or (kind == "element" and not isinstance(element, str)):
        return tencent_problems(element, value, path)
    expected = _TC_SCALARS.get(element)
    if expected is None:
        return []
    if isinstance(value, bool) and bool not in expected or not isinstance(value, expected):
        return [f"{path}: {type(value).__name__} {value!r}, expected {element}"]
    return []


def tencent_problems(model, data: Any, path: str = "$") -> list[str]:
    """Problems of `data` against a Tencent SDK model class (unknown attributes, wrong types)."""
    if not isinstance(data, dict):
        return [f"{path}: {type(data).__name__}, expected an object ({model.__name__})"]
    fields = _tc_fields(model)
    out = []
    for key, value in data.items():
        if key not in fields:
            out.append(f"{path}.{key}: no such attribute in {model.__name__} (has {', '.join(sorted(fields))})")
            continue
        kind, element = fields[key]
        where = f"{path}.{key}"
        if value is None:
            continue
        if kind == "list":
            if not isinstance(value, list):
                out.append(f"{where}: {type(value).__name__}, expected a list")
            else:
                out += [p for i, v in enumerate(value) for p in _tc_value("element", element, v, f"{where}[{i}]")]
        else:
            out += _tc_value(kind, element, value, where)
    return out


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


# ---- dump files: which response a document is -----------------------------------------------------

AWS_RESPONSES = {  # a top-level key -> the operation whose output it is
    "TargetHealthDescriptions": ("elbv2", "DescribeTargetHealth"),
    "TargetGroups": ("elbv2", "DescribeTargetGroups"),
    "TagDescriptions": ("elbv2", "DescribeTags"),
    "SecurityGroups": ("ec2", "DescribeSecurityGroups"),
    "NetworkAcls": ("ec2", "DescribeNetworkAcls"),
    "RouteTables": ("ec2", "DescribeRouteTables"),
    "Subnets": ("ec2", "DescribeSubnets"),
    "Reservations": ("ec2", "DescribeInstances"),
    "DhcpOptions": ("ec2", "DescribeDhcpOptions"),
    "Vpcs": ("ec2", "DescribeVpcs"),
}
TENCENT_RESPONSES = {  # a top-level key -> the response model
    "LoadBalancerSet": ("clb", "DescribeLoadBalancersResponse"),
    "SecurityGroupPolicySet": ("vpc", "DescribeSecurityGroupPoliciesResponse"),
    "NetworkAclSet": ("vpc", "DescribeNetworkAclsResponse"),
    "NetworkInterfaceSet": ("vpc", "DescribeNetworkInterfacesResponse"),
    "SubnetSet": ("vpc", "DescribeSubnetsResponse"),
    "InstanceSet": ("cvm", "DescribeInstancesResponse"),
}
# Keys DESIGN.md asks a person to add to a dump file, because the response does not say which
# resource it answers for (the request's parameter).
DUMP_ADDED_KEYS = {"TargetGroupArn", "SecurityGroupId", "LoadBalancerId"}


def _cloud_doc_response(doc: dict[str, Any]) -> tuple[str, Any] | None:
    """('aws', shape) or ('tencent', model) for a cloud document, None if it is not one."""
    for key, (service, op) in AWS_RESPONSES.items():
        if key in doc:
            return "aws", aws_output_shape(service, op)
    for key, (product, name) in TENCENT_RESPONSES.items():
        if key in doc:
            return "tencent", tencent_model(product, name)
    first = next(iter(doc.get("LoadBalancers") or doc.get("Listeners") or [{}]), {})
    first = first if isinstance(first, dict) else {}
    if "LoadBalancers" in doc:
        if "LoadBalancerArn" in first:
            return "aws", aws_output_shape("elbv2", "DescribeLoadBalancers")
        return "tencent", tencent_model("clb", "DescribeTargetHealthResponse")
    if "Listeners" in doc:
        if "ListenerArn" in first:
            return "aws", aws_output_shape("elbv2", "DescribeListeners")
        has_targets = "Targets" in first or any("Targets" in (r or {}) for r in first.get("Rules") or [])
        return "tencent", tencent_model("clb", "DescribeTargetsResponse" if has_targets else "DescribeListenersResponse")
    return None


def document_problems(doc: Any, where: str) -> list[str]:
    """Problems of one parsed dump document: a Kubernetes object or List, or a cloud CLI response."""
    if not isinstance(doc, dict):
        return [f"{where}: {type(doc).__name__}, expected an object"]
    if "apiVersion" in doc and "kind" in doc:
        if doc["kind"] == "List" or doc["kind"].endswith("List"):
            return [p for i, item in enumerate(doc.get("items") or []) for p in k8s_object_problems(item, f"{where}.items[{i}]")]
        return k8s_object_problems(doc, where)
    found = _cloud_doc_response(doc)
    if found is None:
        return [f"{where}: neither a Kubernetes object nor a known AWS CLI / tccli response"]
    cloud, model = found
    doc = {k: v for k, v in doc.items() if k not in DUMP_ADDED_KEYS}
    doc.pop("RequestId", None) if cloud == "aws" else None
    if cloud == "aws":
        return [p.replace("$", where, 1) for p in aws_problems(model, doc)]
    return [p.replace("$", where, 1) for p in tencent_problems(model, doc)]
