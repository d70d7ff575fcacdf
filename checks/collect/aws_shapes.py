"""AWS CLI output checked against botocore's output shapes (the AWS half of checks.collect.apishapes).

`recognise` tells which operation a document answers, from a top-level key only that output has
(or, for the keys Tencent's output shares, from the items); `problems` walks the document
against the operation's output shape.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from checks.collect.apishapes import Response, at, first_item, wrong

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
# Keys a dump file carries beside the response: the request's parameter DESIGN.md asks a person
# to add (the response does not say which resource it answers for), and the CLI's RequestId.
ADDED_KEYS = frozenset({"TargetGroupArn", "SecurityGroupId", "LoadBalancerId", "RequestId"})


def recognise(doc: dict[str, Any]) -> Response | None:
    for key, (service, op) in AWS_RESPONSES.items():
        if key in doc:
            return Response(aws_output_shape(service, op), f"aws {service} {_kebab(op)}", by_key=True)
    first = first_item(doc, "LoadBalancers", "Listeners")
    if "LoadBalancers" in doc:  # Tencent's DescribeTargetHealth prints it too, without ARNs
        return Response(aws_output_shape("elbv2", "DescribeLoadBalancers"), "aws elbv2 describe-load-balancers") if "LoadBalancerArn" in first else None
    if "Listeners" in doc and "ListenerArn" in first:
        return Response(aws_output_shape("elbv2", "DescribeListeners"), "aws elbv2 describe-listeners")
    return None


def problems(found: Response, doc: dict[str, Any], *, strict: bool = False) -> list[str]:
    body = {k: v for k, v in doc.items() if k not in ADDED_KEYS}
    return aws_problems(found.model, body, "", strict=strict, source=found.command)


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


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
            return [wrong(path, data, f"an object ({shape.name})", source)]
        out = []
        for key, value in data.items():
            member = shape.members.get(key)
            if member is not None:
                out += aws_problems(member, value, at(path, key), strict=strict, source=source)
            elif strict:
                out.append(f"{at(path, key)}: no such key in {shape.name} (has {', '.join(sorted(shape.members))})")
        return out
    if kind == "list":
        if not isinstance(data, list):
            return [wrong(path, data, "a list", source)]
        return [p for i, v in enumerate(data) for p in aws_problems(shape.member, v, at(path, i), strict=strict, source=source)]
    if kind == "map":
        if not isinstance(data, dict):
            return [wrong(path, data, "an object", source)]
        return [p for k, v in data.items() for p in aws_problems(shape.value, v, f"{path}[{k!r}]", strict=strict, source=source)]
    types, words = _AWS_TYPES.get(kind, ((object,), kind))
    if (isinstance(data, bool) and bool not in types) or not isinstance(data, types):
        return [wrong(path, data, words, source)]
    enum = getattr(shape, "enum", None)
    if strict and enum and data not in enum:
        return [f"{path}: {data!r} is not one of {shape.name}'s values {sorted(enum)}"]
    return []


