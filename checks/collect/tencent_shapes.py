"""tccli output checked against the tencentcloud SDK's model classes (the Tencent half of
checks.collect.apishapes).

`recognise` tells which action a document answers, from a top-level key only that response has
(or, for LoadBalancers / Listeners, which AWS prints too, from the items); `problems` walks the
document against the action's response model.

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

from checks.collect.apishapes import Response, at, first_item, wrong

TENCENT_RESPONSES = {  # a top-level key -> the response model
    "LoadBalancerSet": ("clb", "DescribeLoadBalancersResponse"),
    "SecurityGroupPolicySet": ("vpc", "DescribeSecurityGroupPoliciesResponse"),
    "NetworkAclSet": ("vpc", "DescribeNetworkAclsResponse"),
    "NetworkInterfaceSet": ("vpc", "DescribeNetworkInterfacesResponse"),
    "SubnetSet": ("vpc", "DescribeSubnetsResponse"),
    "InstanceSet": ("cvm", "DescribeInstancesResponse"),
}
# The request's parameters DESIGN.md asks a person to add to a dump file (the response does not
# say which resource it answers for).
ADDED_KEYS = frozenset({"TargetGroupArn", "SecurityGroupId", "LoadBalancerId"})


def recognise(doc: dict[str, Any]) -> Response | None:
    for key, (product, name) in TENCENT_RESPONSES.items():
        if key in doc:
            return Response(tencent_model(product, name), f"tccli {product} {name.removesuffix('Response')}", by_key=True)
    first = first_item(doc, "LoadBalancers", "Listeners")
    if "LoadBalancers" in doc:  # AWS's describe-load-balancers prints it too, with ARNs
        return None if "LoadBalancerArn" in first else Response(tencent_model("clb", "DescribeTargetHealthResponse"), "tccli clb DescribeTargetHealth")
    if "Listeners" not in doc or "ListenerArn" in first:
        return None
    rules = first.get("Rules") if isinstance(first.get("Rules"), list) else []
    if "Targets" in first or any(isinstance(r, dict) and "Targets" in r for r in rules):
        return Response(tencent_model("clb", "DescribeTargetsResponse"), "tccli clb DescribeTargets")
    return Response(tencent_model("clb", "DescribeListenersResponse"), "tccli clb DescribeListeners")


def problems(found: Response, doc: dict[str, Any], *, strict: bool = False) -> list[str]:
    body = {k: v for k, v in doc.items() if k not in ADDED_KEYS}
    return tencent_problems(found.model, body, "", strict=strict, source=found.command)


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
        return [wrong(path, value, words, source)]
    return []


def tencent_problems(model, data: Any, path: str = "", *, strict: bool = False, source: str = "tccli") -> list[str]:
    """Problems of `data` against a Tencent SDK model class: types; in strict mode also unknown attributes."""
    if not isinstance(data, dict):
        return [wrong(path, data, f"an object ({model.__name__})", source)]
    fields = _tc_fields(model)
    out = []
    for key, value in data.items():
        where = at(path, key)
        if key not in fields:
            if strict:
                out.append(f"{where}: no such attribute in {model.__name__} (has {', '.join(sorted(fields))})")
            continue
        kind, element = fields[key]
        if value is None:
            continue
        if kind == "list":
            if not isinstance(value, list):
                out.append(wrong(where, value, "a list", source))
            else:
                out += [p for i, v in enumerate(value) for p in _tc_value(element, v, at(where, i), strict, source)]
        else:
            out += _tc_value(element, value, where, strict, source)
    return out
