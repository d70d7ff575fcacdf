"""K8S-TRAFFIC-POLICY: `externalTrafficPolicy: Local` with instance targets, and kube-proxy's hostname.

Why it matters: with `Local`, a node forwards load-balancer traffic only to pods on itself,
and its health-check answer says so: nodes without a ready pod of the Service fail the health
check *by design* (seed 001; seed 000: "only nodes running the backend pods are healthy").
On-call engineers see "3 of 5 targets unhealthy" and chase a network problem that is not
there; saying which nodes and how many healthy targets to expect ends that. It is a real
outage only when no targeted node runs a ready pod.

Seed 000 adds a nastier case: an NLB with `Local`, in a VPC whose DHCP options set a custom
domain name. kube-proxy then derives a node name that is not the Kubernetes node name, finds
no local endpoints anywhere, and every node fails. The fix is kube-proxy's
`--hostname-override=$(NODE_NAME)`.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from checks.gating import unread
from checks.k8s._lbfacts import as_dict, as_list, name_of, pod_ready, service_owner, shell_quote_json, spec_of
from checks.lbview import detect_cloud, target_type
from checks.model import Finding, FixPlan, ObjectRef, Status
from checks.registry import check
from checks.state import State, meta

ID = "K8S-TRAFFIC-POLICY"
EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"
TKE_ONLY_NODES_WITH_POD = "service.kubernetes.io/local-svc-only-bind-node-with-pod"
_DEFAULT_DOMAIN = re.compile(r"^(ec2\.internal|[a-z0-9-]+\.compute\.internal)$")
DEFAULT_KUBE_PROXY_FLAGS = ["--v=2", "--config=/var/lib/kube-proxy-config/config"]


def traffic_policy_fix(state: State) -> FixPlan:
    svc = state.service or {}
    patch = {"spec": {"externalTrafficPolicy": "Cluster"}}
    return FixPlan(
        id="FIX-TRAFFIC-POLICY",
        title=f"Set externalTrafficPolicy: Cluster on Service {state.target.ref}",
        patch=patch,
        command=f"kubectl -n {state.target.namespace} patch svc {state.target.service} --type merge -p {shell_quote_json(patch)}",
        target=ObjectRef(kind="Service", name=state.target.service, namespace=state.target.namespace, resource_version=meta(svc).get("resourceVersion")),
        patch_type="merge",
        tradeoff="Every node then forwards to pods on any node: all targets pass, but the pods see the node's IP instead of the client's source IP (SNAT), and traffic may take an extra hop.",
    )


def _kube_proxy_flags(ds: dict[str, Any] | None) -> tuple[list[str], bool]:
    """(kube-proxy flags as deployed, already has --hostname-override)."""
    if not ds:
        return list(DEFAULT_KUBE_PROXY_FLAGS), False
    containers = as_list(spec_of(as_dict(spec_of(ds).get("template"))).get("containers"))
    c = next((c for c in containers if isinstance(c, dict) and c.get("name") == "kube-proxy"), None)
    if c is None:
        c = next((c for c in containers if isinstance(c, dict)), {})
    words = [str(w) for w in as_list(c.get("command")) + as_list(c.get("args"))]
    text = " ".join(words)
    if "--hostname-override" in text:
        return [], True
    try:
        tokens = shlex.split(text)
    except ValueError:
        tokens = text.split()
    flags = [t for t in tokens if t.startswith("--")]
    return (flags or list(DEFAULT_KUBE_PROXY_FLAGS)), False


def kube_proxy_hostname_fix(state: State) -> FixPlan:
    ds = state.k8s.get("DaemonSet", "kube-system", "kube-proxy")
    flags, _ = _kube_proxy_flags(ds)
    at = next((i + 1 for i, f in enumerate(flags) if f.startswith("--v=")), 0)
    flags = flags[:at] + ["--hostname-override=$(NODE_NAME)"] + flags[at:]
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "kube-proxy",
                            "command": ["/bin/sh"],
                            "args": ["-c", "kube-proxy " + " ".join(flags)],
                            "env": [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeName"}}}],
                        }
                    ]
                }
            }
        }
    }
    return FixPlan(
        id="FIX-KUBE-PROXY-HOSTNAME",
        title="Run kube-proxy with --hostname-override=$(NODE_NAME) (NODE_NAME from spec.nodeName)",
        patch=patch,
        command=f"kubectl -n kube-system patch daemonset kube-proxy --type strategic -p {shell_quote_json(patch)}",
        target=ObjectRef(
            kind="DaemonSet", name="kube-proxy", namespace="kube-system", api_version="apps/v1", resource_version=meta(ds or {}).get("resourceVersion")
        ),
        patch_type="strategic-merge",
        tradeoff="kube-proxy pods restart node by node (rolling update); an EKS add-on update may revert it unless the add-on configuration carries the same change.",
    )


def _node_names_of_targets(state: State) -> tuple[set[str] | None, dict[str, str]]:
    """Nodes registered as instance targets (from ELB target health), and their state by node name."""
    if not state.aws.target_health:
        return None, {}
    names: set[str] = set()
    states: dict[str, str] = {}
    for descs in state.aws.target_health.values():
        for d in as_list(descs):
            if not isinstance(d, dict):
                continue
            tid = str(as_dict(d.get("Target")).get("Id") or "")
            node = state.node_by_address(tid)
            if node is None:
                continue
            n = name_of(node)
            names.add(n)
            th = as_dict(d.get("TargetHealth"))
            st = str(th.get("State") or "?") + (f" ({th.get('Reason')})" if th.get("Reason") else "")
            if states.get(n, "").startswith("healthy"):
                continue
            states[n] = st
    return (names or None), states


def _node_ready(node: dict[str, Any]) -> bool:
    for c in as_list(as_dict(node.get("status")).get("conditions")):
        if isinstance(c, dict) and c.get("type") == "Ready":
            return c.get("status") == "True"
    return False


def _candidates(state: State) -> tuple[list[str], list[str]]:
    """Nodes the load balancer targets (best knowledge) and notes on the ones left out."""
    registered, _ = _node_names_of_targets(state)
    if registered:
        return sorted(registered), ["targeted nodes taken from the target group's registered instances"]
    out, notes = [], []
    for n in state.nodes:
        labels = meta(n).get("labels") or {}
        name = name_of(n)
        if EXCLUDE_LABEL in labels:
            notes.append(f"node {name} has label {EXCLUDE_LABEL}: not a target")
        elif labels.get("eks.amazonaws.com/compute-type") == "fargate":
            notes.append(f"node {name} is a Fargate node: not an instance target")
        elif not _node_ready(n):
            notes.append(f"node {name} is NotReady: the controllers do not register it")
        else:
            out.append(name)
    return sorted(out), notes


def _ready_pods_by_node(state: State) -> dict[str, list[str]]:
    by_node: dict[str, list[str]] = {}
    for p in state.selected_pods:
        node = spec_of(p).get("nodeName")
        if node and pod_ready(p):
            by_node.setdefault(str(node), []).append(name_of(p))
    for sl in state.endpoint_slices:
        for ep in as_list(sl.get("endpoints")):
            ep = as_dict(ep)
            node = ep.get("nodeName")
            if node and as_dict(ep.get("conditions")).get("ready") is True:
                pod = as_dict(ep.get("targetRef")).get("name") or ",".join(map(str, as_list(ep.get("addresses"))))
                if pod not in by_node.get(str(node), []):
                    by_node.setdefault(str(node), []).append(str(pod))
    return by_node


def _custom_domains(state: State) -> list[tuple[str, str]]:
    """(DHCP options ID, domain name) for non-default domain names of the VPC(s) in play."""
    vpc_ids = {lb.get("VpcId") for lb in state.aws.load_balancers if lb.get("VpcId")} | {
        tg.get("VpcId") for tg in state.aws.target_groups if tg.get("VpcId")
    }
    vpcs = [v for v in state.aws.vpcs if not vpc_ids or v.get("VpcId") in vpc_ids]
    dopt_ids = {v.get("DhcpOptionsId") for v in vpcs}
    out = []
    for d in state.aws.dhcp_options:
        if vpcs and d.get("DhcpOptionsId") not in dopt_ids:
            continue
        for conf in as_list(d.get("DhcpConfigurations")):
            if not isinstance(conf, dict) or conf.get("Key") != "domain-name":
                continue
            for v in as_list(conf.get("Values")):
                value = str(as_dict(v).get("Value") or "").strip()
                for domain in value.split():
                    if domain and not _DEFAULT_DOMAIN.match(domain.lower()):
                        out.append((str(d.get("DhcpOptionsId") or "?"), domain))
    return out


def _is_nlb(state: State) -> bool:
    types = {str(lb.get("Type") or "").lower() for lb in state.aws.load_balancers}
    if types:
        return "network" in types
    return service_owner(state).key in ("lbc", "in-tree-nlb")


def _hostname_finding(state: State, states: dict[str, str]) -> Finding | None:
    if detect_cloud(state) != "aws" or not _is_nlb(state):
        return None
    why = state.why_not_read("aws.dhcp")
    if why and not state.aws.dhcp_options:
        return Finding(ID, Status.SKIP, f"The VPC's DHCP options were not read ({why}): whether kube-proxy needs --hostname-override (an NLB in a VPC whose DHCP options set a custom domain name) was not checked")
    domains = _custom_domains(state)
    if not domains:
        return None
    ds = state.k8s.get("DaemonSet", "kube-system", "kube-proxy")
    _, patched = _kube_proxy_flags(ds)
    evidence = [f"VPC DHCP options {dopt}: domain-name = {domain} (not the AWS default <region>.compute.internal)" for dopt, domain in domains]
    evidence.append(f"Service {state.target.ref}: externalTrafficPolicy Local, NLB with instance targets")
    if patched:
        return None
    if ds is None:
        evidence.append("daemonset kube-system/kube-proxy was not read: could not confirm its flags" + (f" ({state.why_not_read('k8s.kube_proxy')})" if state.why_not_read("k8s.kube_proxy") else ""))
    else:
        evidence.append("daemonset kube-system/kube-proxy runs without --hostname-override")
    healthy = sorted(n for n, st in states.items() if st.startswith("healthy"))
    if states and not healthy:
        evidence.append(f"all {len(states)} registered node target(s) are unhealthy, including nodes that run a ready pod")
    if healthy:
        evidence.append(f"healthy targets exist ({', '.join(healthy)}): kube-proxy finds its local endpoints today")
    fix = kube_proxy_hostname_fix(state)
    return Finding(
        ID,
        Status.WARN if healthy else Status.FAIL,
        "The VPC's DHCP options set a custom domain name, so kube-proxy may not recognise its own node and reports no local endpoint: "
        "with externalTrafficPolicy Local every NLB target fails. Run kube-proxy with --hostname-override=$(NODE_NAME)",
        evidence=evidence,
        next_step=fix.command,
        fix=fix,
        cause="" if healthy else "kube-proxy-hostname",
        supports=("kube-proxy-hostname",) if healthy else (),
    )


@check(
    ID,
    title="externalTrafficPolicy Local: which nodes can pass the health check",
    seed="service traffic policy (001); kube-proxy hostname override (000)",
    reads=("k8s.service",),
    uses=("k8s.pods", "k8s.nodes", "k8s.endpoints", "k8s.kube_proxy", "aws.elbv2", "aws.target_health", "aws.dhcp"),
    fixes=("FIX-TRAFFIC-POLICY", "FIX-KUBE-PROXY-HOSTNAME"),
    severity=60,
)
def traffic_policy(state: State) -> list[Finding]:
    """Nodes without a ready pod fail by design under Local; expected healthy count; kube-proxy hostname override."""
    spec = spec_of(state.service)
    svc_type = spec.get("type") or "ClusterIP"
    if svc_type not in ("LoadBalancer", "NodePort"):
        return [Finding(ID, Status.SKIP, f"Service {state.target.ref} is {svc_type}: no NodePort, externalTrafficPolicy does not apply")]
    policy = spec.get("externalTrafficPolicy") or "Cluster"
    if policy != "Local":
        return [
            Finding(
                ID,
                Status.PASS,
                f"externalTrafficPolicy is {policy}: every node forwards to the Service's pods, so node health does not depend on where pods run",
                evidence=[f"Service {state.target.ref} spec.externalTrafficPolicy = {policy}"],
            )
        ]
    tt = target_type(state)
    if tt == "ip":
        return [
            Finding(
                ID,
                Status.PASS,
                "externalTrafficPolicy is Local, but the load balancer targets pod IPs directly: the policy does not decide target health",
                evidence=[f"Service {state.target.ref} spec.externalTrafficPolicy = Local", "target type ip"],
            )
        ]
    if detect_cloud(state) == "tencent" and str(state.service_annotations.get(TKE_ONLY_NODES_WITH_POD, "")).lower() == "true":
        return [
            Finding(
                ID,
                Status.PASS,
                "externalTrafficPolicy is Local and TKE binds only nodes that run a pod: no node fails by design",
                evidence=[f"Service {state.target.ref} annotation {TKE_ONLY_NODES_WITH_POD} = true"],
            )
        ]
    if stand_in := unread(ID, state, ("k8s.nodes", "k8s.pods")):  # needed only under Local with node targets
        return [stand_in]

    candidates, notes = _candidates(state)
    by_node = _ready_pods_by_node(state)
    with_pod = [n for n in candidates if n in by_node]
    without = [n for n in candidates if n not in by_node]
    _, states = _node_names_of_targets(state)
    findings: list[Finding] = []
    base = [f"Service {state.target.ref} spec.externalTrafficPolicy = Local, target type {tt}", *notes]
    base += [f"node {n}: ready pod(s) {', '.join(by_node[n])}" + (f"; target {states[n]}" if n in states else "") for n in with_pod]
    base += [f"node {n}: no ready pod" + (f"; target {states[n]}" if n in states else "") for n in without]
    unexplained = [n for n in with_pod if n in states and not states[n].startswith("healthy") and not states[n].startswith("initial")]
    if unexplained:
        base.append(
            f"unhealthy although they run a ready pod: {', '.join(unexplained)} — not explained by the traffic policy (see the other findings)"
        )
    total_ready = sum(len(v) for v in by_node.values())
    fix = traffic_policy_fix(state)
    hostname = _hostname_finding(state, states)
    if not candidates:
        findings.append(Finding(ID, Status.SKIP, "No node is known to be a target of the load balancer (no nodes read or all excluded)", evidence=base))
    elif total_ready == 0:
        findings.append(
            Finding(
                ID,
                Status.FAIL,
                f"No selected pod is ready, so under externalTrafficPolicy Local none of the {len(candidates)} nodes can pass the health check: fix the pods first",
                evidence=base,
                next_step=f"kubectl -n {state.target.namespace} get pods -l " + ",".join(f"{k}={v}" for k, v in sorted(state.selector.items())) + " -o wide",
                supports=("pods-not-ready",),
            )
        )
    elif not with_pod:
        elsewhere = sorted(n for n in by_node if n not in candidates)
        findings.append(
            Finding(
                ID,
                Status.FAIL,
                f"externalTrafficPolicy Local: the {total_ready} ready pod(s) run only on nodes the load balancer does not target "
                f"({', '.join(elsewhere) or 'none'}), so none of the {len(candidates)} targeted nodes can be healthy",
                evidence=base + ["or keep Local and schedule the pods onto targeted nodes"],
                next_step=fix.command,
                fix=fix,
                cause="traffic-policy",
            )
        )
    elif without:
        unhealthy = {n for n, st in states.items() if not st.startswith(("healthy", "initial"))}
        exact = bool(states) and unhealthy == set(without) and not unexplained
        if exact:
            base.append("the unhealthy targets are exactly the nodes without a ready pod: the health checks behave as designed")
        findings.append(
            Finding(
                ID,
                Status.WARN,
                f"externalTrafficPolicy Local: {len(without)} of {len(candidates)} nodes ({_short(without)}) run no ready pod and fail the health check by design; "
                f"expect {len(with_pod)} healthy target(s) ({_short(with_pod)})",
                evidence=base + ["to make every node pass: the fix below (client source IP is then lost), or keep Local and "
                                 "run a ready pod on every node (a DaemonSet, or topologySpreadConstraints over kubernetes.io/hostname)"],
                next_step=fix.command,
                fix=fix,
                cause="traffic-policy" if exact else "",
                supports=() if exact else ("traffic-policy",),
            )
        )
    else:
        findings.append(
            Finding(
                ID,
                Status.PASS,
                f"externalTrafficPolicy Local: all {len(candidates)} targeted nodes run a ready pod, so every node can pass the health check",
                evidence=base,
            )
        )
    if hostname and hostname.status == Status.SKIP:
        for f in findings:
            f.evidence.append(hostname.summary)
    elif hostname:
        if all(f.status == Status.PASS for f in findings):
            findings = []
        findings.append(hostname)
    return findings


def _short(names: list[str], limit: int = 5) -> str:
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")

