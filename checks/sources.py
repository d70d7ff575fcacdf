"""What supplies each read: its name for a person, the commands whose output a dump needs, the grant.

One table for everyone who tells a user about a read: the runner when a check's read failed or is
absent (checks/gating.py), the deciding reads when a verdict cannot be `pass` (checks/deciding.py).
The Kubernetes, probe and node reads are here; each cloud provider names its own
(checks/providers/<name>/ `sources`). {ns} {svc} {region} and the providers' identifiers ({tg}, {lb})
are filled from the state; unknown ones stay <placeholders>.
"""

from __future__ import annotations

from checks.providers import provider, providers
from checks.providers.base import Source
from checks.state import State

# Who is granted what the Kubernetes reads need (the chart's read-only ClusterRole and Role).
K8S_GRANTEE = "the lbhealth worker's ServiceAccount (deploy/helm/lbhealth/templates/rbac-read.yaml)"

SOURCES: dict[str, Source] = {
    "k8s.service": Source("the Service", ("kubectl get svc {svc} -n {ns} -o yaml",), "RBAC verb 'get' on 'services' in namespace {ns}"),
    "k8s.services": Source(
        "the other Services of namespace {ns}", ("kubectl get svc -n {ns} -o yaml",), "RBAC verb 'list' on 'services'"
    ),
    "k8s.pods": Source(
        "the pods the Service selects", ("kubectl get pods -n {ns} -o yaml",), "RBAC verb 'list' on 'pods' in namespace {ns}"
    ),
    "k8s.namespace_pods": Source(
        "the pods of namespace {ns}", ("kubectl get pods -n {ns} -o yaml",), "RBAC verb 'list' on 'pods' in namespace {ns}"
    ),
    "k8s.endpoints": Source(
        "the Service's endpoints",
        ("kubectl get endpointslices -n {ns} -o yaml",),
        "RBAC verb 'list' on 'endpointslices' (group discovery.k8s.io) in namespace {ns}",
    ),
    "k8s.nodes": Source("the nodes", ("kubectl get nodes -o yaml",), "RBAC verb 'list' on 'nodes' in a ClusterRole"),
    "k8s.ingresses": Source(
        "the Ingresses of namespace {ns}",
        ("kubectl get ingress -n {ns} -o yaml",),
        "RBAC verb 'list' on 'ingresses' (group networking.k8s.io) in namespace {ns}",
    ),
    "k8s.events": Source(
        "the events of namespace {ns}", ("kubectl get events -n {ns} -o yaml",), "RBAC verb 'list' on 'events' in namespace {ns}"
    ),
    "k8s.networkpolicies": Source(
        "the NetworkPolicies of namespace {ns}",
        ("kubectl get networkpolicy -n {ns} -o yaml",),
        "RBAC verb 'list' on 'networkpolicies' (group networking.k8s.io) in namespace {ns}",
    ),
    "k8s.targetgroupbindings": Source(
        "the TargetGroupBindings of namespace {ns}",
        ("kubectl get targetgroupbindings -n {ns} -o yaml",),
        "RBAC verb 'list' on 'targetgroupbindings' (group elbv2.k8s.aws) in namespace {ns}",
    ),
    "k8s.kube_proxy": Source(
        "kube-proxy's DaemonSet and pods",
        ("kubectl get ds kube-proxy -n kube-system -o yaml", "kubectl get pods -n kube-system -l k8s-app=kube-proxy -o yaml"),
        "RBAC verb 'get' on 'daemonsets' (group apps) and 'list' on 'pods' in namespace kube-system",
    ),
    "k8s.lbc": Source(
        "the AWS Load Balancer Controller's Deployment",
        ("kubectl get deploy aws-load-balancer-controller -n kube-system -o yaml",),
        "RBAC verb 'get' on 'deployments' (group apps) in namespace kube-system",
    ),
    "k8s.logs": Source("the container logs", (), "RBAC verb 'get' on 'pods/log'"),
    "probe": Source("the bot's own health-check probes", (), ""),
    "node": Source("the target nodes' sysctl and iptables settings", (), ""),
}


def source(read: str) -> Source:
    """The Source of a read; an unknown read names itself (a check added without its table entry)."""
    if read in SOURCES:
        return SOURCES[read]
    return next((p.sources[read] for p in providers() if read in p.sources), Source(read, (), ""))


def grantee(read: str) -> str:
    """Who the grant of `read` goes to: the provider's credentials for its reads, else the ServiceAccount."""
    owner = next((p for p in providers() if read in p.reads), None)
    return owner.grantee if owner is not None else K8S_GRANTEE


def fill(text: str, state: State, cloud: str | None) -> str:
    """`text` with {ns} {svc} {region} and the providers' identifiers of this diagnosis filled in."""
    p = provider(cloud)
    region = p.state_slice(state).region if p else None
    fields = {"ns": state.target.namespace, "svc": state.target.service, "region": (" --region " + region) if region else ""}
    for each in providers():
        fields.update(each.command_fields(state))
    return text.format_map(_Keep(fields))


class _Keep(dict):
    """format_map fields that leave an unknown {name} as it was instead of raising."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"
