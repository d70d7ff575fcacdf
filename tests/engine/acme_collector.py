"""The live collector of the fake third provider of test_providers.py (no network: it reads nothing)."""

from __future__ import annotations

from typing import Any

from checks.state import State


def collect_live(state: State, reads: set[str], clients: Any) -> None:
    mine = state.clouds.setdefault("acme", {"balancers": ()})
    mine["balancers"] = ("b-1",)
    state.api_calls["acme"] += 1
    state.reads_done.update(reads)


class Recogniser:
    """The fake provider's dump recogniser: `{"AcmeBalancers": [...]}` as its CLI would print it."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.seen: set[str] = set()

    def load(self, path: Any, doc: dict[str, Any]) -> bool:
        if not isinstance(doc.get("AcmeBalancers"), list):
            return False
        self.state.clouds["acme"] = {"balancers": tuple(doc["AcmeBalancers"])}
        self.seen.add("acme.balancers")
        return True

    def finish(self) -> None:
        return None
