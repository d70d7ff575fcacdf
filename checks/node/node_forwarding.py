"""NODE-FORWARDING: the target nodes forward IPv4 packets (net.ipv4.ip_forward and every
net.ipv4.conf.*.forwarding are 1).

Seed 004, "check node configuration": with forwarding off, a packet the load balancer sends to a
NodePort (or straight to a pod ENI) is never routed on to the pod, and every health check
times out although the pod is fine. Both the global switch and each interface's switch count
(`sysctl -a | grep ipv4 | grep -w forwarding` must show only 1s).
"""

from __future__ import annotations

import re

from checks.model import Finding, Status
from checks.node._common import facts_with, sysctl_of
from checks.registry import check
from checks.state import State
from checks.values import leading_int

ID = "NODE-FORWARDING"
_CONF_FORWARDING = re.compile(r"^net\.ipv4\.conf\.([^.]+(?:\.[^.]+)*)\.forwarding$")


def _bad_keys(sysctl: dict[str, str]) -> tuple[list[tuple[str, str]], int]:
    """([(key, value) not 1], keys looked at)."""
    keys = [k for k in sysctl if k == "net.ipv4.ip_forward" or _CONF_FORWARDING.match(k)]
    bad = [(k, str(sysctl[k])) for k in sorted(keys) if leading_int(sysctl[k]) != 1]
    return bad, len(keys)


@check(
    ID,
    title="Target nodes forward IPv4 (ip_forward and every conf.*.forwarding = 1)",
    seed="004: sysctl net.ipv4.ip_forward; sysctl -a | grep ipv4 | grep -w forwarding",
    reads=("k8s.service",),
    uses=("node", "k8s.pods", "k8s.nodes"),
    severity=75,
    opt_in=True,
)
def node_forwarding(state: State) -> Finding:
    """Read the forwarding sysctls of each target node."""
    nodes, errors, stop = facts_with(state, "sysctl", ID)
    if stop:
        return stop
    failing: dict[str, list[tuple[str, str]]] = {}
    evidence: list[str] = []
    unread: list[str] = []
    for node, facts in nodes.items():
        bad, looked = _bad_keys(sysctl_of(facts))
        if not looked:
            unread.append(node)
            evidence.append(f"node {node}: no forwarding sysctl in the output")
            continue
        if bad:
            failing[node] = bad
            evidence.append(f"node {node}: " + ", ".join(f"{k} = {v}" for k, v in bad))
        else:
            evidence.append(f"node {node}: net.ipv4.ip_forward and all {looked - 1} conf.*.forwarding = 1")
    evidence += errors
    if failing:
        keys = sorted({k for bad in failing.values() for k, _ in bad})
        cmd = " && ".join(f"sysctl -w {k}=1" for k in keys)
        persist = "; persist with `echo 'net.ipv4.ip_forward=1' >> /etc/sysctl.conf`" if "net.ipv4.ip_forward" in keys else ""
        return Finding(
            ID,
            Status.FAIL,
            f"IP forwarding is off on {len(failing)} target node(s) ({', '.join(sorted(failing))}): "
            "load-balancer traffic is not routed on to the pods",
            evidence=evidence,
            next_step=f"On each listed node: `{cmd}`{persist}. Find what turned it off (a hardening script, a sysctl.d file).",
            cause="kube-proxy",  # the node's data path (where kube-proxy's rules live) drops the packets
            supports=("kube-proxy",),
        )
    if unread and len(unread) == len(nodes):
        return Finding(ID, Status.SKIP, "The node output holds no forwarding sysctl", evidence=evidence)
    return Finding(ID, Status.PASS, f"IPv4 forwarding is on for every read target node ({len(nodes)})", evidence=evidence)
