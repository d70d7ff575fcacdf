"""The before/after text a person approves, and the digest that binds an approval to it."""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
from typing import Any

import yaml

# Fields the API server maintains: they change on every write and say nothing about the fix.
_META_NOISE = ("managedFields", "resourceVersion", "generation", "uid", "creationTimestamp", "selfLink")
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def strip_noise(obj: dict[str, Any] | None) -> dict[str, Any]:
    """The object without status, managed fields and server-maintained metadata."""
    out = copy.deepcopy(obj or {})
    out.pop("status", None)
    meta = out.get("metadata")
    if isinstance(meta, dict):
        for key in _META_NOISE:
            meta.pop(key, None)
        ann = meta.get("annotations")
        if isinstance(ann, dict):
            ann.pop(_LAST_APPLIED, None)
            if not ann:
                meta.pop("annotations", None)
    return out


def pre_image(obj: dict[str, Any]) -> dict[str, Any]:
    """What rollback restores: the object as read, without status and managed fields (resourceVersion kept)."""
    out = copy.deepcopy(obj)
    out.pop("status", None)
    (out.get("metadata") or {}).pop("managedFields", None)
    return out


def unified_diff(before: Any, after: Any, name: str) -> str:
    """A unified diff of the two objects as sorted YAML ('' when they are the same)."""

    def lines(doc: Any) -> list[str]:
        if not doc:
            return []
        return yaml.safe_dump(doc, sort_keys=True, default_flow_style=False, allow_unicode=True).splitlines(keepends=True)

    return "".join(difflib.unified_diff(lines(before), lines(after), fromfile=f"{name} (now)", tofile=f"{name} (after the fix)", n=3))


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def digest(value: Any) -> str:
    return hashlib.sha256(canonical(value)).hexdigest()
