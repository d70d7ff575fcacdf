"""Collect the state of one live diagnosis: Kubernetes, then the cloud in front of it, then probes.

    reads = union of the selected checks' `reads`
    k8s wave 1 (parallel) ──► cloud detected ──┬─► k8s wave 2 + follow-ups (parallel)
                                               └─► that cloud provider's collector (overlapping)
                                                        └─► probes (when enabled)

The cloud collector needs the Service, its Ingresses, TargetGroupBindings and nodes (wave 1),
not its pods, so it runs while wave 2 reads the pods: with 50 ms per API call a diagnosis
costs about three round trips, not the sum of its calls. Only the collector of the provider
`lbview.detect_cloud` names is asked (checks/providers: each names its collector module, whose
`collect_live(state, reads, clients)` this calls).

Clients come from `Clients` (tests and benches point them at loopback fakes) or from the
environment: the kubeconfig context / in-cluster config, the standard AWS_* variables,
TENCENTCLOUD_* and LBHEALTH_TENCENT_ENDPOINT.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from checks.collect.errors import CollectError
from checks.collect.k8s import K8S_READS, KubeCollector, make_api_client
from checks.model import Target
from checks.providers import provider, providers
from checks.registry import CheckSpec
from checks.state import State

log = logging.getLogger(__name__)

__all__ = ["Clients", "CollectError", "collect", "reads_of", "shared_api_client"]


@dataclass
class Clients:
    """What a live diagnosis talks to. Anything left None or absent comes from the environment.

    `cloud` holds each provider's own settings under its name, so a provider needs no field here;
    the provider's collector documents its keys (checks.collect.aws: session, clients;
    checks.collect.tencent: credential, region, endpoint). `region` is the one key every
    provider may be given: the cluster's configured region.
    """

    k8s: Any = None  # kubernetes.client.ApiClient
    context: str | None = None  # kubeconfig context when k8s is None (else options["context"])
    cloud: dict[str, dict[str, Any]] = field(default_factory=dict)  # provider name -> its settings
    max_workers: int = 16  # threads for the parallel reads of one diagnosis

    def of(self, name: str) -> dict[str, Any]:
        """The settings given for provider `name` ({} when none)."""
        return self.cloud.get(name) or {}

    @classmethod
    def for_cluster(cls, context: str | None, cloud: str | None, region: str | None) -> Clients:
        """A configured cluster's clients: its kube context, and its region for its cloud (for
        every provider when the config names no cloud; each reads only its own)."""
        if not region:
            return cls(context=context)
        names = [cloud] if cloud else [p.name for p in providers()]
        return cls(context=context, cloud={name: {"region": region} for name in names})


K8S_CLIENT_MAX_AGE_S = 600.0
_k8s_clients: dict[tuple[str, str | None], tuple[float, Any]] = {}
_k8s_lock = threading.Lock()


def shared_api_client(context: str | None) -> Any:
    """One Kubernetes ApiClient per context for the process, so a worker's jobs reuse warm connections.

    Rebuilt after K8S_CLIENT_MAX_AGE_S so an edited kubeconfig is picked up; tokens that expire
    (exec plugins, in-cluster) are refreshed by the client's own refresh hook meanwhile.
    """
    now = time.monotonic()
    key = (os.environ.get("KUBECONFIG", ""), context)
    with _k8s_lock:
        hit = _k8s_clients.get(key)
    if hit is not None and now - hit[0] < K8S_CLIENT_MAX_AGE_S:
        return hit[1]
    client = make_api_client(context)  # CollectError when there is no usable configuration
    with _k8s_lock:
        _k8s_clients[key] = (now, client)  # a replaced client is left to jobs still using it
    return client


def reads_of(specs: Iterable[CheckSpec]) -> set[str]:
    reads: set[str] = set()
    for spec in specs:
        reads.update(spec.all_reads)
    return reads


def _optional(module: str, attr: str) -> Any:
    """A collector function of a module that may not exist yet (None if absent)."""
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            return None
        raise
    return getattr(mod, attr, None)


def _collect_cloud(state: State, cloud: str | None, reads: set[str], clients: Clients) -> None:
    """Ask the collector of the provider in front of the Service; the other providers' reads are skipped."""
    mine = provider(cloud)
    for p in providers():
        own = sorted(r for r in reads if r in p.reads)
        if not own:
            continue
        if cloud is None:
            words = "/".join(each.title.split()[0] for each in providers())
            why = f"no cloud load balancer detected (no {words} annotations, ingress class, hostname or node provider)"
        elif p is not mine:
            why = f"not applicable: the load balancer is on {cloud}"
        elif (fn := _optional(p.collector, "collect_live")) is None:
            why = f"the {p.title} collector is not available in this build"
        else:
            fn(state, set(own), clients)
            continue
        for r in own:
            state.skipped_reads.setdefault(r, why)


def _run_probes(state: State, reads: set[str]) -> None:
    if "probe" not in reads:
        return
    if not state.options.get("probe"):
        state.skipped_reads.setdefault("probe", "probes are off (--no-probe, or the cluster's probe setting)")
        return
    if state.service is None:
        state.skipped_reads.setdefault("probe", "nothing to probe: the Service was not found")
        return
    fn = _optional("checks.collect.probe", "run_probes")
    if fn is None:
        state.skipped_reads.setdefault("probe", "the probe collector is not available in this build")
        return
    fn(state)
    state.reads_done.add("probe")


def _node_facts(state: State, reads: set[str], api_client: Any) -> None:
    if "node" not in reads:
        return
    if not state.options.get("node"):
        state.skipped_reads.setdefault("node", "node checks are off (enable them with --node)")
        return
    if api_client is None or state.service is None:
        state.skipped_reads.setdefault("node", "no Kubernetes access or no Service: no target node to read")
        return
    fn = _optional("checks.collect.node", "collect_node_facts")
    if fn is None:
        state.skipped_reads.setdefault("node", "the node collector is not available in this build")
        return
    fn(state, api_client)


def collect(target: Target, specs: Iterable[CheckSpec], options: dict[str, Any] | None = None, clients: Clients | None = None) -> State:
    """Read everything the checks in `specs` declare, each source once, in parallel where possible."""
    options = dict(options or {})
    clients = clients or Clients()
    state = State(target=target, options=options)
    reads = reads_of(specs)
    k8s_reads = reads & K8S_READS

    api_client = clients.k8s
    if (k8s_reads or (options.get("node") and "node" in reads)) and api_client is None:
        api_client = shared_api_client(clients.context or options.get("context"))

    executor = ThreadPoolExecutor(max_workers=max(4, clients.max_workers), thread_name_prefix="lbhealth-collect")
    try:
        kube = KubeCollector(state, k8s_reads, api_client, executor=executor) if k8s_reads else None
        if kube is not None:
            kube.wave1()  # raises CollectError when the API server cannot be reached
        from checks.lbview import detect_cloud

        cloud = detect_cloud(state)
        # Buckets wave 2 may add to exist before the cloud thread can iterate the object dict.
        for kind in ("Pod", "Service", "Endpoints", "Deployment"):
            state.k8s.objects.setdefault(kind, [])
        cloud_future = executor.submit(_collect_cloud, state, cloud, reads, clients)
        try:
            if kube is not None:
                kube.wave2()
        finally:
            try:
                cloud_future.result()
            except CollectError:
                raise
            except Exception as exc:  # a cloud collector bug must not lose the Kubernetes half
                log.exception("cloud collection failed")
                mine = provider(cloud)
                for r in reads:
                    if mine and r in mine.reads and r not in state.reads_done:
                        state.read_errors.setdefault(r, f"the {cloud} collector failed: {type(exc).__name__}: {exc}")
        for kind in [k for k, v in state.k8s.objects.items() if not v]:
            del state.k8s.objects[kind]
        _run_probes(state, reads)
        _node_facts(state, reads, api_client)
    finally:
        executor.shutdown(wait=False)
    return state
