"""From an alarm's load balancer back to the Kubernetes Service(s): the dispatch to the alarm's
provider and the reads every provider's mapping shares.

    map_alarm(alarm.to_dict(), clusters=..., clients=...)   # -> AlarmMapping

The alarm names its provider (checks.providers); that provider's `alarm_mapper` module
(checks/collect/aws_alarm_map.py, tencent_alarm_map.py, a plugin's own) has
`map_alarm(alarm, clusters=, clients=)` and optionally `warm(clients, cluster)`, and is given the
configured clusters of its cloud (or of none named). Nothing here names a cloud.

Every failure becomes a sentence in `why` (the diagnosis still runs the cloud-side checks on the load
balancer and says why no Service was found). Offline clusters (config `sources`: dump files) are read
from the dumps instead of APIs.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from checks.providers import provider, providers
from checks.state import meta

log = logging.getLogger(__name__)

TGB = ("elbv2.k8s.aws", "v1beta1", "targetgroupbindings")


@dataclass
class AlarmMapping:
    services: list[str] = field(default_factory=list)  # "namespace/name"
    cluster: str | None = None  # the configured cluster they were found in
    how: str = ""  # "TargetGroupBinding shop/k8s-shop-web-1a2b3c", "tag service.k8s.aws/stack=shop/web", ...
    why: str | None = None  # why no Service was found (None when found)
    lb: dict[str, Any] = field(default_factory=dict)  # what the cloud-side checks need (State.options)
    api_calls: Counter = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        return {"services": list(self.services), "cluster": self.cluster, "how": self.how, "why": self.why, "lb": dict(self.lb),
                "api_calls": dict(self.api_calls)}


@dataclass
class ClusterRef:
    """Where to look: a configured cluster (kube context, or offline dump sources)."""

    name: str | None = None
    context: str | None = None
    sources: list[str] = field(default_factory=list)
    cloud: str | None = None
    region: str | None = None


# ---- client factories (tests inject their own; production uses the official clients) ---------------


class Clients:
    """Lazily built API clients, one per (kind, context or region), shared by every mapping of the
    process. The Kubernetes client is built here; each provider's mapper builds its own cloud's
    clients through `cloud(kind, region, build)`, so a new cloud adds nothing here. Tests override
    any factory by kind: `Clients(kube=..., elbv2=lambda region: ...)`."""

    def __init__(self, kube: Callable[[str | None], Any] | None = None, **overrides: Callable[[str], Any]) -> None:
        self._kube = kube
        self._overrides = overrides
        self._cache: dict[tuple[str, str | None], Any] = {}
        self._lock = threading.Lock()

    def _cached(self, kind: str, key: str | None, build: Callable[[], Any]) -> Any:
        """One client per (kind, context/region) for the life of this object (they are thread-safe)."""
        with self._lock:
            hit = self._cache.get((kind, key))
        if hit is not None:
            return hit
        made = build()
        with self._lock:
            return self._cache.setdefault((kind, key), made)

    def kube(self, context: str | None) -> Any:
        if self._kube:
            return self._kube(context)
        return self._cached("kube", context, lambda: _kube_client(context))

    def cloud(self, kind: str, region: str, build: Callable[[str], Any]) -> Any:
        """The `kind` client of `region` ("elbv2", "clb"), made once by `build(region)` unless overridden."""
        if kind in self._overrides:
            return self._overrides[kind](region)
        return self._cached(kind, region, lambda: build(region))


def _kube_client(context: str | None) -> Any:
    from kubernetes import client, config

    try:
        return config.new_client_from_config(context=context)
    except config.ConfigException:
        config.load_incluster_config()
        return client.ApiClient()


# ---- reading Kubernetes objects: live or from dumps --------------------------------------------------


class Kube:
    """The Kubernetes objects a mapping lists, from a cluster's API or its dump files."""

    def __init__(self, cluster: ClusterRef, clients: Clients, calls: Counter) -> None:
        self.cluster = cluster
        self.clients = clients
        self.calls = calls
        self._api = None
        self._offline: list[dict[str, Any]] | None = None
        if cluster.sources:
            from checks.collect import dump
            from checks.model import Target

            state = dump.load_state(Target("default", "x"), list(cluster.sources), options={"offline": True})
            self._offline = state.k8s.all_objects()
            self.offline_state = state

    @property
    def api(self) -> Any:
        if self._api is None:
            self._api = self.clients.kube(self.cluster.context)
        return self._api

    def _of_kind(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        return [o for o in self._offline or [] if o.get("kind") == kind and (namespace is None or meta(o).get("namespace") == namespace)]

    def target_group_bindings(self) -> list[dict[str, Any]]:
        if self._offline is not None:
            return self._of_kind("TargetGroupBinding")
        from kubernetes import client

        self.calls["k8s"] += 1
        try:
            res = client.CustomObjectsApi(self.api).list_cluster_custom_object(*TGB)
        except client.ApiException as exc:
            if exc.status == 404:
                return []  # no AWS Load Balancer Controller CRD in this cluster
            raise
        return list(res.get("items") or [])

    def ingresses(self, namespace: str | None) -> list[dict[str, Any]]:
        if self._offline is not None:
            return self._of_kind("Ingress", namespace)
        from kubernetes import client

        self.calls["k8s"] += 1
        api = client.NetworkingV1Api(self.api)
        res = api.list_namespaced_ingress(namespace, _preload_content=False) if namespace else api.list_ingress_for_all_namespaces(_preload_content=False)
        return _items(res, "Ingress")

    def services(self) -> list[dict[str, Any]]:
        if self._offline is not None:
            return self._of_kind("Service")
        from kubernetes import client

        self.calls["k8s"] += 1
        res = client.CoreV1Api(self.api).list_service_for_all_namespaces(_preload_content=False)
        return _items(res, "Service")


def kubes(clusters: list[ClusterRef], clients: Clients, calls: Counter, reasons: list[str]) -> Iterator[tuple[ClusterRef, Kube]]:
    """Each cluster to look in, with its reads; one that cannot be opened becomes a reason, not an error."""
    for cluster in clusters:
        try:
            kube = Kube(cluster, clients, calls)
        except Exception as exc:
            reasons.append(f"cluster {cluster.name or '(current context)'}: unreadable ({exc})")
            continue
        yield cluster, kube


def only_cluster(clusters: list[ClusterRef]) -> str | None:
    """The one named cluster an unmapped alarm can be in (its cloud side is diagnosed from there), or None."""
    named = [c.name for c in clusters if c.name]
    return named[0] if len(named) == 1 else None


def _items(resp: Any, kind: str) -> list[dict[str, Any]]:
    """Raw JSON LIST (camelCase, as kubectl prints it), each item with its kind."""
    import json

    data = json.loads(resp.data)
    items = data.get("items") or []
    for i in items:
        i.setdefault("kind", kind)
    return items


def fmt(pairs: Iterable[tuple[str, str]]) -> list[str]:
    return [f"{ns}/{name}" for ns, name in pairs]


def short(exc: Exception) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) < 200 else text[:199] + "…"


def clusters_from_config(cfg: Any) -> list[ClusterRef]:
    """ClusterRefs from bot.settings FileConfig.clusters (duck-typed: checks/ does not import bot/)."""
    refs = []
    for c in getattr(cfg, "clusters", None) or []:
        refs.append(ClusterRef(name=c.name, context=c.context, sources=list(c.sources or []), cloud=c.cloud, region=c.region))
    return refs


# ---- dispatch to the alarm's provider -------------------------------------------------------------


def map_alarm(alarm: dict[str, Any], *, clusters: list[ClusterRef] | None = None, clients: Clients | None = None) -> AlarmMapping:
    """The Service(s) behind `alarm` (Alarm.to_dict(): it names its `provider`), found by that provider."""
    p = provider(alarm.get("provider"))
    if p is None:
        return AlarmMapping(why=f"no provider {alarm.get('provider')!r} is registered to find the Service behind this alarm")
    mine = [c for c in clusters or [] if c.cloud in (None, p.name)] or [ClusterRef()]
    return importlib.import_module(p.alarm_mapper).map_alarm(alarm, clusters=mine, clients=clients or Clients())


def warm(clients: Clients, clusters: list[ClusterRef]) -> None:
    """Import the API clients and build those of the configured clusters now (a worker's start), so the
    first alarm of an incident does not pay ~1 s of imports before its root message."""
    from kubernetes import client as k8s

    # the kubernetes package imports each API class on first attribute access: do it now
    for name in ("CoreV1Api", "NetworkingV1Api", "CustomObjectsApi", "V1Service", "V1Ingress"):
        getattr(k8s, name)
    for c in clusters:
        if c.sources:
            continue
        try:
            clients.kube(c.context)
            for p in providers():
                warm_provider = getattr(importlib.import_module(p.alarm_mapper), "warm", None)
                if warm_provider is not None and c.cloud in (None, p.name):
                    warm_provider(clients, c)
        except Exception as exc:  # no kubeconfig here yet: mapping will say so when it runs
            log.warning("cluster %s: client not ready for alarm mapping: %s", c.name, exc)
