"""Which channel an incident's thread goes to: the first matching `alarm_routes` entry, else a default."""

from __future__ import annotations

import fnmatch
from typing import Any


def route_channel(
    routes: list[Any], default: str | None, *, alarm_name: str, cluster: str | None = None, namespace: str | None = None
) -> str | None:
    """First matching route wins: every field a route sets must match (alarm is a shell glob)."""
    for r in routes or []:
        get = r.get if isinstance(r, dict) else (lambda k, _r=r: getattr(_r, k, None))
        if get("cluster") and get("cluster") != cluster:
            continue
        if get("namespace") and not fnmatch.fnmatchcase(namespace or "", get("namespace")):
            continue
        if get("alarm") and not fnmatch.fnmatchcase(alarm_name or "", get("alarm")):
            continue
        if not (get("cluster") or get("namespace") or get("alarm")):
            continue
        return get("channel")
    return default
