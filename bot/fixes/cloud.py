"""Cloud writes of FIX-SG-RULE, each sent by the writer of the provider the write names.

A provider's writer is `WRITER` in bot/fixes/clouds/<provider name>.py (see
`bot.fixes.base.SecurityGroupWriter`): AWS `ec2.authorize_security_group_ingress`, Tencent
`vpc.CreateSecurityGroupPolicies` with the policy set's Version. Every write is idempotent (a
rule that exists already is success) and a rollback removes exactly the rule that was added.
Nothing here names a cloud: it looks the writer up among the registered providers.
"""

from __future__ import annotations

import copy
import importlib
from typing import Any

from bot.fixes.base import CloudResult, CloudWrite, Permission, PlanError, SecurityGroupWriter
from checks.collect.live import Clients
from checks.providers import names

__all__ = [
    "CloudResult", "authorize", "checks", "group_before_after", "permissions", "register", "revoke", "revoke_command", "unregister",
    "writer", "writer_for",
]


_PLUGGED: dict[str, SecurityGroupWriter] = {}


def register(w: SecurityGroupWriter) -> None:
    """A writer from outside bot/fixes/clouds/ (a plugin's provider, a test), for its provider's name."""
    _PLUGGED[w.provider] = w


def unregister(provider: str) -> None:
    _PLUGGED.pop(provider, None)


def writer(provider: str) -> SecurityGroupWriter | None:
    """The writer of a registered provider (None when it writes nothing or is not registered)."""
    if provider not in names():
        return None
    if provider in _PLUGGED:
        return _PLUGGED[provider]
    module = f"{__package__}.clouds.{provider}"
    try:
        return importlib.import_module(module).WRITER
    except ModuleNotFoundError as exc:
        if exc.name == module:
            return None
        raise


def writers() -> list[SecurityGroupWriter]:
    return [w for w in map(writer, names()) if w is not None]


def writer_for(api_version: str) -> SecurityGroupWriter | None:
    """The writer whose cloud API a plan's SecurityGroup names ("ec2", "vpc/2017-03-12")."""
    return next((w for w in writers() if w.owns(api_version)), None)


def checks() -> tuple[str, ...]:
    """The checks, of every registered writer's cloud, that propose a security group rule."""
    return tuple(c for w in writers() for c in w.checks)


def permissions() -> tuple[Permission, ...]:
    """Every registered writer's permissions, in provider order (what deploy/ grants the writer)."""
    return tuple(p for w in writers() for p in w.permissions)


def _writer(provider: str) -> SecurityGroupWriter:
    found = writer(provider)
    if found is None:
        raise PlanError(f"no writer for the {provider!r} cloud in this build")
    return found


def authorize(write: CloudWrite, clients: Clients) -> CloudResult:
    return _writer(write.provider).authorize(write, clients)


def revoke_command(pre_image: dict[str, Any]) -> str:
    """What a person runs to remove the rule by hand (cloud writes off)."""
    return _writer(pre_image["provider"]).revoke_command(pre_image)


def revoke(pre_image: dict[str, Any], clients: Clients) -> CloudResult:
    """Remove the rule a fix added (`pre_image` is what apply stored: provider, params, region)."""
    return _writer(pre_image["provider"]).revoke(pre_image, clients)


def group_before_after(write: CloudWrite, clients: Clients) -> tuple[dict[str, Any], dict[str, Any], str]:
    """The group's ingress rules now and with the new rule (for the approver's diff); `why` when not read."""
    try:
        before, after = _writer(write.provider).rules(write, clients)
        return before, after, ""
    except Exception as exc:  # no credentials, no permission, unreachable: the diff shows the new rule alone
        return {}, copy.deepcopy(write.params), f"{type(exc).__name__}: {str(exc)[:200]}"
