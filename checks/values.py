"""Defensive readers of fields that may come from hand-written dump files: the one coercion module.

Objects reach the checks from live reads and from files a person assembled, so any field may
be missing, of the wrong type (`"80"` instead of `80`) or named instead of numbered. These
never raise; they return an empty value (or the caller's default) and let the check say what is
missing. Checks, collectors and shared views all coerce through here, so a value means the same
everywhere: the integer rule is `as_int`'s.
"""

from __future__ import annotations

import re
from typing import Any

from checks.state import meta

_LEADING_INT = re.compile(r"\s*([+-]?\d{1,18})(?!\d)")


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_int(value: Any, default: int | None = None) -> int | None:
    """The one integer rule for data from APIs and dumps; anything else is `default`.

    An integer is an int (a bool is not one), an integral float (`80.0`, as some JSON encoders
    write it), or a string of ASCII digits with an optional sign and surrounding whitespace
    (`"80"`, `" -1 "`: AWS CLI, tccli and annotations carry numbers as strings) of at most 18 digits.
    `"http"`, `"8.5"`, `8.5`, `True`, `None`, `[]` -> `default`.
    """
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else default
    if isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text[:1] in "+-" else text
        if digits.isascii() and digits.isdigit() and len(digits) <= 18:  # int() refuses >4300 digits
            return int(text)
    return default


def as_port(value: Any) -> int | None:
    """An integer (the rule of `as_int`) that is a TCP/UDP port, 1-65535; else None."""
    n = as_int(value)
    return n if n is not None and 0 < n < 65536 else None


def as_float(value: Any, default: float) -> float:
    """A number (int, float, or a numeric string such as `"2.5"`); a bool or anything else is `default`."""
    if isinstance(value, bool):
        return default
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return default
    return default


def leading_int(text: Any) -> int | None:
    """The integer a text value starts with, for values that carry more after it: sysctl's
    `"32768\t60999"` -> 32768, an annotation's `"10s"` -> 10; an int is itself; else None."""
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    m = _LEADING_INT.match(text[:64]) if isinstance(text, str) else None
    return int(m.group(1)) if m else None


def as_str(value: Any, default: str = "") -> str:
    return value if isinstance(value, str) and value else default


def kind_of(value: Any, mapping: str = "an object") -> str:
    """How a person reads a value's type in a message ("the number 8080", "null"); `mapping` is what
    the format calls a dict: "an object" in JSON API output, "a map" in a Kubernetes object."""
    if isinstance(value, dict):
        return mapping
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    return f"the string {value!r}" if isinstance(value, str) else "null" if value is None else type(value).__name__


def name_of(obj: dict[str, Any] | None) -> str:
    return str(meta(obj or {}).get("name") or "?")


def ns_of(obj: dict[str, Any] | None) -> str:
    return str(meta(obj or {}).get("namespace") or "")


def ref(obj: dict[str, Any] | None) -> str:
    """`namespace/name`, or `name` for cluster-scoped objects."""
    ns = ns_of(obj)
    return f"{ns}/{name_of(obj)}" if ns else name_of(obj)
