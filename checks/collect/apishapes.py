"""Cloud CLI output checked against the SDKs' own models, each provider's by its `shapes_module`
(checks.collect.aws_shapes: botocore's output shapes; tencent_shapes: the tencentcloud SDK's
model classes).

A dump file given to `--from` is read through here, so that a field with a type the CLI never
prints ("Port": "80") is bad input naming the file and field, where a check would otherwise
conclude from a value it could not read. Only types are checked then (`strict=False`): a newer
CLI may print keys or enum values the installed SDK does not know yet. The tests check fixtures,
fakes and examples with `strict=True`: no unknown key, no value outside an enum, no null where
the API omits the key.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from checks.providers import providers
from checks.values import kind_of


@dataclass(frozen=True)
class Response:
    """Which response a CLI document is, as one provider's shapes module recognised it."""

    model: Any  # the SDK's model of the response (a botocore shape, a tencentcloud model class)
    command: str  # the CLI command that prints it: "aws elbv2 describe-target-groups"
    by_key: bool = False  # told by a top-level key only this CLI prints (else by the items' shape)


def _recognised(doc: dict[str, Any]) -> tuple[Any, Response] | None:
    """(shapes module, response): a provider that knows a key of the document first, in provider
    order; else the first that knows the shape of its items (LoadBalancers, Listeners are shared)."""
    hits = []
    for p in providers():
        module = importlib.import_module(p.shapes_module)
        if (found := module.recognise(doc)) is not None:
            if found.by_key:
                return module, found
            hits.append((module, found))
    return hits[0] if hits else None


def response_model(doc: dict[str, Any]) -> tuple[Any, str] | None:
    """(response model, command) for a cloud CLI document; None for anything else."""
    found = _recognised(doc)
    return (found[1].model, found[1].command) if found else None


def document_problems(doc: dict[str, Any], *, strict: bool = False) -> list[str]:
    """Problems of a cloud CLI document ([] for anything else): 'Listeners[0].Port is ...'."""
    found = _recognised(doc)
    if found is None:
        return []
    module, response = found
    return module.problems(response, doc, strict=strict)


def first_item(doc: dict[str, Any], *keys: str) -> dict[str, Any]:
    """The first object under the first of `keys` the document has ({} if none): for a key several
    clouds' CLIs print, the items tell whose output it is."""
    for key in keys:
        if key in doc:
            items = doc[key]
            return items[0] if isinstance(items, list) and items and isinstance(items[0], dict) else {}
    return {}


def at(path: str, key: str | int) -> str:
    return f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else key)


def wrong(path: str, value: Any, expected: str, source: str) -> str:
    return f"{path or 'the document'} is {kind_of(value)}; {source} prints {expected} there"
