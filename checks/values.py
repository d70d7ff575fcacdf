"""Defensive readers of fields that may come from hand-written dump files.

Objects reach the checks from live reads and from files a person assembled, so any field may
be missing, of the wrong type (`"80"` instead of `80`) or named instead of numbered. These
never raise; they return an empty value and let the check say what is missing.
"""

from __future__ import annotations

from typing import Any

from checks.state import meta


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_int(value: Any) -> int | None:
    """80, "80", " 80 " -> 80; "http", None, True, 8.5 -> None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def as_str(value: Any, default: str = "") -> str:
    return value if isinstance(value, str) and value else default


def name_of(obj: dict[str, Any] | None) -> str:
    return str(meta(obj or {}).get("name") or "?")


def ns_of(obj: dict[str, Any] | None) -> str:
    return str(meta(obj or {}).get("namespace") or "")


def ref(obj: dict[str, Any] | None) -> str:
    """`namespace/name`, or `name` for cluster-scoped objects."""
    ns = ns_of(obj)
    return f"{ns}/{name_of(obj)}" if ns else name_of(obj)
