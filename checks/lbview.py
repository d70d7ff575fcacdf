"""Derived views of the load balancer: which cloud, which targets, and what its health check sends.

Several checks and the probe collector need the same answer to "what does the load balancer
actually probe, and where": read it once here, from the most authoritative source available
(the target group / CLB listener as read from the cloud, else the annotations and the
controller's documented defaults).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from checks.providers import provider, providers
from checks.providers.base import HealthCheck, ProbeSource
from checks.state import State, annotations
from checks.values import as_dict, as_list, as_str


def _ingress_cloud(ing: dict[str, Any]) -> str | None:
    ann = annotations(ing)
    ing_class = as_dict(ing.get("spec")).get("ingressClassName") or ann.get("kubernetes.io/ingress.class")
    for p in providers():
        if ing_class in p.ingress_classes or any(k.startswith(p.ingress_annotation_prefixes) for k in ann):
            return p.name
    return None


def service_cloud_evidence(state: State) -> Iterator[tuple[str, str]]:
    """(cloud, why) from the Service itself and its cluster, strongest first: annotations,
    Ingresses routing to it, the address its load balancer published, the nodes' providerIDs.
    Which cloud files happen to be in a dump says nothing about which cloud this Service is on.
    A generator: detect_cloud, called by many checks, stops at the first piece of evidence."""
    svc = state.service or {}
    for key in sorted(annotations(svc)):
        if p := next((p for p in providers() if key.startswith(p.annotation_prefixes)), None):
            yield (p.name, f"Service annotation {key}")
    for ing in state.ingresses:
        cloud = _ingress_cloud(ing)
        if cloud:
            yield (cloud, f"Ingress {as_dict(ing.get('metadata')).get('name')} (class/annotations)")
    lb_status = as_dict(as_dict(svc.get("status")).get("loadBalancer")).get("ingress")
    for entry in lb_status if isinstance(lb_status, list) else []:
        host, ip = as_str(as_dict(entry).get("hostname")), as_str(as_dict(entry).get("ip"))
        if host and (p := next((p for p in providers() if host.endswith(p.lb_domains)), None)):
            yield (p.name, f"Service status.loadBalancer.ingress hostname {host}")
        elif ip and (found := next(((p, w) for p in providers() if (w := p.lb_address(state, ip))), None)):
            yield (found[0].name, f"Service status.loadBalancer.ingress IP {ip} is {found[1]} in the input")
    for node in state.nodes:
        pid = as_str(as_dict(node.get("spec")).get("providerID"))
        name = as_dict(node.get("metadata")).get("name")
        if pid and (p := next((p for p in providers() if pid.startswith(p.provider_id_prefixes)), None)):
            yield (p.name, f"node {name} providerID {pid}")


def detect_cloud(state: State) -> str | None:
    """A provider's name or None for the Service diagnosed: what the caller knows (an alarm's source),
    then the Service's own evidence, and only without any, the first cloud whose state was read."""
    forced = state.options.get("cloud")
    if forced:
        return forced
    first = next(service_cloud_evidence(state), None)
    if first:
        return first[0]
    return next((p.name for p in providers() if not p.state_slice(state).empty), None)


def cloud_conflicts(state: State) -> list[str]:
    """Warnings when the input mixes clouds or clusters: evidence for two clouds, or cloud state
    of a cloud other than the Service's (a dump of another cluster in the same directory)."""
    cloud = detect_cloud(state)
    seen: dict[str, str] = {}
    for c, why in service_cloud_evidence(state):
        seen.setdefault(c, why)
    for p in providers():
        if not p.state_slice(state).empty:
            seen.setdefault(p.name, p.dump_evidence)
    clusters: dict[str, str] = {}
    for p in providers():
        for name, why in p.cluster_names(state).items():
            clusters.setdefault(name, why)
    notes = []
    if len(clusters) > 1:
        notes.append(
            "The input mixes clusters: " + "; ".join(f"{name} ({why})" for name, why in sorted(clusters.items()))
            + ". Give --from only the files of this Service's cluster, or the diagnosis may join objects of different clusters."
        )
    if len(seen) < 2 or cloud is None:
        return notes
    others = "; ".join(f"{c}: {why}" for c, why in seen.items() if c != cloud)
    basis = seen.get(cloud, "")
    return [
        f"The input mixes clouds or clusters. {state.target.ref} is diagnosed as {cloud} ({basis}); "
        f"ignored as belonging elsewhere: {others}. Give --from only the files of this Service's cluster to be sure."
    ] + notes


def fronted_by_load_balancer(state: State) -> bool:
    """A cloud load balancer sends to this Service: type LoadBalancer, an Ingress or TargetGroupBinding
    routes to it, or its load balancer's state was read."""
    svc = state.service or {}
    if as_dict(svc.get("spec")).get("type") == "LoadBalancer" or state.ingresses:
        return True
    for tgb in state.k8s.of_kind("TargetGroupBinding", state.target.namespace):
        if as_dict(as_dict(tgb.get("spec")).get("serviceRef")).get("name") == state.target.service:
            return True
    return any(not p.state_slice(state).empty for p in providers())


def target_type(state: State) -> str:
    """`ip` or `instance`: where the load balancer sends (pods or nodes). Without a recognised
    cloud, the first provider's defaults (AWS: instance unless annotated), as before providers."""
    p = provider(detect_cloud(state)) or providers()[0]
    return p.target_type(state)


def health_checks(state: State) -> list[HealthCheck]:
    """Every health check the load balancer(s) in front of the Service run, best source first."""
    p = provider(detect_cloud(state))
    return p.health_checks(state) if p else []


def probe_sources(state: State) -> tuple[list[ProbeSource], str]:
    """The networks the load balancer's health checks come from, and how that is known ("" if unknown)."""
    p = provider(detect_cloud(state))
    return p.probe_sources(state) if p else ([], "")


def ready_backends(state: State) -> int | None:
    """How many pods the Service selects are Ready (None when the pods were not read): with none,
    a load balancer that fails open still has nothing behind it that answers."""
    if state.why_not_read("k8s.pods") is not None:
        return None
    ready = 0
    for pod in state.selected_pods:
        conditions = as_list(as_dict(pod.get("status")).get("conditions"))
        if any(as_dict(c).get("type") == "Ready" and as_dict(c).get("status") == "True" for c in conditions):
            ready += 1
    return ready


def fail_open_consequence(state: State) -> str:
    """What fail-open means for requests right now, said without promising traffic that cannot flow."""
    ready = ready_backends(state)
    if ready == 0:
        return "but no pod of the Service is ready, so requests fail now: this is an outage, not a false alarm"
    if ready is None:
        return "requests still reach the targets; whether they succeed depends on the cause ranked first"
    return (
        f"requests still reach the targets ({ready} ready pod(s) behind them); they succeed only if the cause ranked first "
        "spares traffic (a wrong health-check path or code does; a blocked or closed port does not), and then the outage "
        "is latent, not a false alarm: the day one target really fails, nothing tells it apart"
    )
