"""The cloud providers the engine knows, in the order evidence for them is weighed.

Adding a cloud: write checks/providers/<name>/ with a `PROVIDER` that satisfies
`checks.providers.base.Provider`, and add it to `_PROVIDERS` below (the one registration line).
lbview, the runner and the report iterate `providers()`; none names a cloud.
"""

from __future__ import annotations

from checks.providers import aws, tencent
from checks.providers.base import Provider

_PROVIDERS: list[Provider] = [aws.PROVIDER, tencent.PROVIDER]


def providers() -> tuple[Provider, ...]:
    return tuple(_PROVIDERS)


def provider(name: str | None) -> Provider | None:
    return next((p for p in _PROVIDERS if p.name == name), None)


def names() -> tuple[str, ...]:
    return tuple(p.name for p in _PROVIDERS)


def register(p: Provider) -> None:
    """Add a provider after the built-in ones (a plugin or a test); replaces one of the same name."""
    unregister(p.name)
    _PROVIDERS.append(p)


def unregister(name: str) -> None:
    _PROVIDERS[:] = [p for p in _PROVIDERS if p.name != name]
