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


# ---- its shapes module: what acmectl prints, checked as an SDK model would -----------------------------


def recognise(doc: dict[str, Any]) -> Any:
    from checks.collect.apishapes import Response

    return Response({"AcmeBalancers": list}, "acmectl balancers list", by_key=True) if "AcmeBalancers" in doc else None


def problems(found: Any, doc: dict[str, Any], *, strict: bool = False) -> list[str]:
    from checks.collect.apishapes import wrong

    return [wrong(key, doc[key], "a list", found.command) for key, kind in found.model.items() if not isinstance(doc[key], kind)]


def map_alarm(alarm: dict[str, Any], *, clusters: list[Any], clients: Any) -> Any:
    """The fake provider's alarm mapping: the Services annotated with the alarm's balancer, listed through
    the reads every provider's mapping shares (checks.collect.alarm_map.Kube)."""
    from checks.collect.alarm_map import AlarmMapping, Kube, fmt
    from checks.state import annotations, meta

    balancer = (alarm.get("lb") or {}).get("balancer")
    clients.cloud("acme", alarm.get("region"), AcmeClient).describe_balancer(balancer)
    out = AlarmMapping(lb={"acme_balancer": balancer})
    for cluster in clusters:
        found = [(meta(s).get("namespace"), meta(s).get("name")) for s in Kube(cluster, clients, out.api_calls).services()
                 if annotations(s).get("acme.example/balancer") == balancer]
        if found:
            out.services, out.cluster, out.how = fmt(found), cluster.name, f"annotation acme.example/balancer={balancer}"
            return out
    out.why = f"no Service has the annotation acme.example/balancer={balancer}"
    return out


class AcmeClient:
    """The fake cloud's API client, built by the shared mapping Clients through `cloud()` as a real
    provider's SDK client is; `made` and `calls` let a test see it built once and used."""

    made: list[str] = []

    def __init__(self, region: str) -> None:
        self.region = region
        self.calls: list[str] = []
        AcmeClient.made.append(region)

    def describe_balancer(self, balancer: str) -> dict[str, str]:
        self.calls.append(balancer)
        return {"balancer": balancer, "region": self.region}
