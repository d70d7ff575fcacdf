"""FIX-* ID -> the module that writes it (all seven fixes of CHECKS.md)."""

from __future__ import annotations

from types import ModuleType

from bot.fixes import (
    healthcheck_path,
    kube_proxy_hostname,
    nlb_annotation,
    restart_kube_proxy,
    sg_rule,
    targetport,
    traffic_policy,
)

FIXES: dict[str, ModuleType] = {
    m.ID: m
    for m in (targetport, restart_kube_proxy, traffic_policy, kube_proxy_hostname, healthcheck_path, nlb_annotation, sg_rule)
}


class UnknownFix(KeyError):
    pass


def get(fix_id: str) -> ModuleType:
    try:
        return FIXES[fix_id]
    except KeyError:
        raise UnknownFix(f"unknown fix {fix_id!r}; known: {', '.join(sorted(FIXES))}") from None
