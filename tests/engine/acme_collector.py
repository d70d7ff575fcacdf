"""The live collector of the fake third provider of test_providers.py (no network: it reads nothing)."""

from __future__ import annotations

from typing import Any

from checks.state import State


def collect_live(state: State, reads: set[str], clients: Any) -> None:
    mine = state.clouds.setdefault("acme", {"balancers": ()})
    mine["balancers"] = ("b-1",)
    state.api_calls["acme"] += 1
    state.reads_done.update(reads)
