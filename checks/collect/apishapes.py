"""AWS CLI and tccli output checked against the SDKs' own models: botocore's output shapes and the
tencentcloud SDK's model classes.

A dump file given to `--from` is read through here, so that a field with a type the CLI never
prints ("Port": "80") is bad input naming the file and field, where a check would otherwise
conclude from a value it could not read. Only types are checked then (`strict=False`): a newer
CLI may print keys or enum values the installed SDK does not know yet. The tests check fixtures,
fakes and examples with `strict=True`: no unknown key, no value outside an enum, no null where
the API omits the key.

Tencent's SDK carries each attribute's type only in its docstring (`:rtype: int`,
`:rtype: list of NetworkAclEntry`, `:class:\\`...HealthCheck\\``), generated from the API
specification; that is what is read. Null is accepted for any Tencent field: the APIs print null
for absent values (`"Rules": null` on an L4 listener) and the SDK's `_deserialize` accepts it.
"""

from __future__ import annotations

import functools
import importlib
import re
from typing import Any

# ---- which response a document is ----------------------------------------------------------------

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
# Keys DESIGN.md asks a person to add to a dump file because the response does not say which
# resource it answers for (the request's parameter).
DUMP_ADDED_KEYS = frozenset({"TargetGroupArn", "SecurityGroupId", "LoadBalancerId"})


def response_model(doc: dict[str, Any]) -> tuple[str, Any, str] | None:
    """('aws', output shape, command) or ('tencent', response model, command) for a CLI document."""
    for key, (service, op) in AWS_RESPONSES.items():
        if key in doc:
            return "aws", aws_output_shape(service, op), f"aws {service} {_kebab(op)}"
    for key, (product, name) in TENCENT_RESPONSES.items():
        if key in doc:
            return "tencent", tencent_model(product, name), f"tccli {product} {name.removesuffix('Response')}"
    items = doc.get("LoadBalancers") if "LoadBalancers" in doc else doc.get("Listeners")
    first = items[0] if isinstance(items, list) and items and isinstance(items[0], dict) else {}
    if "LoadBalancers" in doc:
        if "LoadBalancerArn" in first:
            return "aws", aws_output_shape("elbv2", "DescribeLoadBalancers"), "aws elbv2 describe-load-balancers"
        return "tencent", tencent_model("clb", "DescribeTargetHealthResponse"), "tccli clb DescribeTargetHealth"
    if "Listeners" in doc:
        if "ListenerArn" in first:
            return "aws", aws_output_shape("elbv2", "DescribeListeners"), "aws elbv2 describe-listeners"
        rules = first.get("Rules") if isinstance(first.get("Rules"), list) else []
        if "Targets" in first or any(isinstance(r, dict) and "Targets" in r for r in rules):
            return "tencent", tencent_model("clb", "DescribeTargetsResponse"), "tccli clb DescribeTargets"
        return "tencent", tencent_model("clb", "DescribeListenersResponse"), "tccli clb DescribeListeners"
    return None


def document_problems(doc: dict[str, Any], *, strict: bool = False) -> list[str]:
    """Problems of an AWS CLI / tccli document ([] for anything else): 'Listeners[0].Port is ...'."""
    found = response_model(doc)
    if found is None:
        return []
    cloud, model, command = found
    body = {k: v for k, v in doc.items() if k not in DUMP_ADDED_KEYS and not (cloud == "aws" and k == "RequestId")}
    check = aws_problems if cloud == "aws" else tencent_problems
    return check(model, body, "", strict=strict, source=command)


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def _kind_of(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    return f"the string {value!r}" if isinstance(value, str) else "null" if value is None else type(value).__name__


def _at(path: str, key: str | int) -> str:
    return f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else key)


def _wrong(path: str, value: Any, expected: str, source: str) -> str:
    return f"{path or 'the document'} is {_kind_of(value)}; {source} prints {expected} there"


# ---- AWS (botocore) --------------------------------------------------------------------------------


@functools.cache
def _aws_service(name: str):
    import botocore.session

    return botocore.session.get_session().get_service_model(name)


def aws_output_shape(service: str, operation: str):
    return _aws_service(service).operation_model(operation).output_shape


_AWS_TYPES = {  # botocore type -> (Python types, words)
    "string": ((str,), "a string"),
    "integer": ((int,), "an integer"),
    "long": ((int,), "an integer"),
    "boolean": ((bool,), "true or false"),
    "double": ((int, float), "a number"),
    "float": ((int, float), "a number"),
    "timestamp": ((str, int, float), "a timestamp"),  # the CLI prints ISO 8601
    "blob": ((str, bytes), "base64 text"),
}


def aws_problems(shape, data: Any, path: str = "", *, strict: bool = False, source: str = "the AWS CLI") -> list[str]:
    """Problems of `data` against a botocore shape: types; in strict mode also unknown keys, enums, nulls."""
    if data is None:
        return [f"{path}: null ({shape.name} is never null in an AWS response: omit the key)"] if strict else []
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(data, dict):
            return [_wrong(path, data, f"an object ({shape.name})", source)]
        out = []
        for key, value in data.items():
            member = shape.members.get(key)
            if member is not None:
                out += aws_problems(member, value, _at(path, key), strict=strict, source=source)
            elif strict:
                out.append(f"{_at(path, key)}: no such key in {shape.name} (has {', '.join(sorted(shape.members))})")
        return out
    if kind == "list":
        if not isinstance(data, list):
            return [_wrong(path, data, "a list", source)]
        return [p for i, v in enumerate(data) for p in aws_problems(shape.member, v, _at(path, i), strict=strict, source=source)]
    if kind == "map":
        if not isinstance(data, dict):
            return [_wrong(path, data, "an object", source)]
        return [p for k, v in data.items() for p in aws_problems(shape.value, v, f"{path}[{k!r}]", strict=strict, source=source)]
    types, words = _AWS_TYPES.get(kind, ((object,), kind))
    if (isinstance(data, bool) and bool not in types) or not isinstance(data, types):
        return [_wrong(path, data, words, source)]
    enum = getattr(shape, "enum", None)
    if strict and enum and data not in enum:
        return [f"{path}: {data!r} is not one of {shape.name}'s values {sorted(enum)}"]
    return []


# ---- Tencent Cloud (tencentcloud SDK model classes) ---------------------------------------------------

_TC_MODULES = {
    "clb": "tencentcloud.clb.v20180317.models",
    "vpc": "tencentcloud.vpc.v20170312.models",
    "cvm": "tencentcloud.cvm.v20170312.models",
}
_RTYPE = re.compile(r":rtype:\s*(.+)")
_CLASS = re.compile(r":class:`([\w.]+)`")
_TC_SCALARS = {
    "str": ((str,), "a string"),
    "int": ((int,), "an integer"),
    "bool": ((bool,), "true or false"),
    "float": ((int, float), "a number"),
}


def tencent_model(product: str, name: str):
    return getattr(importlib.import_module(_TC_MODULES[product]), name)


def _resolve(class_path: str):
    module, _, name = class_path.rpartition(".")
    return getattr(importlib.import_module(module), name)


@functools.cache
def _tc_fields(model) -> dict[str, tuple[str, Any]]:
    """attribute -> ("list" | "model" | "scalar", element type) from the properties' docstrings."""
    fields = {}
    for attr in vars(model()):
        name = attr[1:]
        doc = getattr(model, name).__doc__ or ""
        rtype = (_RTYPE.search(doc) or [None, "object"])[1].strip()
        if rtype.startswith("list of "):
            inner = rtype[len("list of "):].strip()
            cls = _CLASS.search(inner)
            element = _resolve(cls[1]) if cls else getattr(importlib.import_module(model.__module__), inner, inner)
            fields[name] = ("list", element)
        elif cls := _CLASS.search(rtype):
            fields[name] = ("model", _resolve(cls[1]))
        else:
            fields[name] = ("scalar", rtype)
    return fields


def _tc_value(element: Any, value: Any, path: str, strict: bool, source: str) -> list[str]:
    if not isinstance(element, str):
        return tencent_problems(element, value, path, strict=strict, source=source)
    types, words = _TC_SCALARS.get(element, ((object,), element))
    if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
        return [_wrong(path, value, words, source)]
    return []


def tencent_problems(model, data: Any, path: str = "", *, strict: bool = False, source: str = "tccli") -> list[str]:
    """Problems of `data` against a Tencent SDK model class: types; in strict mode also unknown attributes."""
    if not isinstance(data, dict):
        return [_wrong(path, data, f"an object ({model.__name__})", source)]
    fields = _tc_fields(model)
    out = []
    for key, value in data.items():
        where = _at(path, key)
        if key not in fields:
            if strict:
                out.append(f"{where}: no such attribute in {model.__name__} (has {', '.join(sorted(fields))})")
            continue
        kind, element = fields[key]
        if value is None:
            continue
        if kind == "list":
            if not isinstance(value, list):
                out.append(_wrong(where, value, "a list", source))
            else:
                out += [p for i, v in enumerate(value) for p in _tc_value(element, v, _at(where, i), strict, source)]
        else:
            out += _tc_value(element, value, where, strict, source)
    return out
