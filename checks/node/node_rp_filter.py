"""NODE-RP-FILTER: strict reverse-path filtering (rp_filter = 1) on a node whose pods are reached
directly by the load balancer (TKE VPC-CNI direct access, the CLB sends straight to pod ENIs).

With VPC-CNI the load balancer sends to the pod's IP on a secondary ENI, while the node's route
back to the source leaves through another interface. Strict rp_filter drops such "asymmetric"
packets silently, so health checks time out although the pod answers `curl` from its node.
TKE's VPC-CNI sets rp_filter to 0; a hardening baseline or sysctl.d file that re-enables 1
breaks it (on EKS the VPC CNI sets loose mode itself and routes by policy: not judged there).
The kernel uses the larger of conf.all and conf.<interface>, so both count.
"""

from __future__ import annotations

import re

from checks.lbview import detect_cloud
from checks.lbview import target_type as lb_target_type
from checks.model import Finding, Status
from checks.node._common import facts_with, sysctl_of
from checks.providers.tencent import tencent_direct_access
from checks.registry import check
from checks.state import State
from checks.values import leading_int

ID = "NODE-RP-FILTER"
_RP = re.compile(r"^net\.ipv4\.conf\.(.+)\.rp_filter$")
# interfaces the load balancer's packets can arrive on (primary and secondary ENIs)
_ENI = re.compile(r"^(eth|ens|enp|eni|bond)\w*")


def _strict(sysctl: dict[str, str]) -> tuple[list[tuple[str, int]], list[str]]:
    """([(interface, effective value)] with effective rp_filter = 1, [keys set to 1 to change])."""
    values = {m.group(1): leading_int(v) for k, v in sysctl.items() if (m := _RP.match(k))}
    all_value = values.get("all") or 0
    strict: list[tuple[str, int]] = []
    keys: list[str] = []
    if all_value == 1:
        keys.append("net.ipv4.conf.all.rp_filter")
    for iface, value in sorted(values.items()):
        if not _ENI.match(iface):
            continue
        effective = max(all_value, value or 0)
        if effective == 1:
            strict.append((iface, effective))
            if value == 1:
                keys.append(f"net.ipv4.conf.{iface}.rp_filter")
    if all_value == 1 and not strict:
        strict.append(("all", 1))
    return strict, keys


@check(
    ID,
    title="Reverse-path filtering is not strict on nodes with directly reached pods (VPC-CNI)",
    seed="004: container direct access (VPC-CNI): check node configuration",
    reads=("k8s.service",),
    uses=("node", "k8s.pods", "k8s.nodes"),
    severity=70,
    opt_in=True,
)
def node_rp_filter(state: State) -> Finding:
    """Strict rp_filter on ENI interfaces of nodes hosting directly reached pods."""
    if detect_cloud(state) != "tencent":
        return Finding(ID, Status.SKIP, "Applies to TKE VPC-CNI direct access (on EKS the VPC CNI sets loose rp_filter and routes by policy)")
    if not tencent_direct_access(state) or lb_target_type(state) != "ip":
        return Finding(ID, Status.SKIP, "The CLB targets nodes (NodePort), not pod ENIs (no direct access): rp_filter on pod ENIs does not apply")
    nodes, errors, stop = facts_with(state, "sysctl", ID)
    if stop:
        return stop
    mode = "TKE VPC-CNI direct access"
    failing: dict[str, list[str]] = {}
    evidence: list[str] = []
    looked = 0
    for node, facts in nodes.items():
        sysctl = sysctl_of(facts)
        if not any(_RP.match(k) for k in sysctl):
            evidence.append(f"node {node}: no rp_filter sysctl in the output")
            continue
        looked += 1
        strict, keys = _strict(sysctl)
        if strict:
            failing[node] = keys
            shown = ", ".join(f"{k} = 1" for k in keys) or ", ".join(f"{i} effective 1" for i, _ in strict)
            evidence.append(f"node {node}: {shown} (effective strict on {', '.join(i for i, _ in strict)})")
        else:
            all_v = sysctl.get("net.ipv4.conf.all.rp_filter", "?")
            evidence.append(f"node {node}: rp_filter not strict (all = {all_v})")
    evidence += errors
    if failing:
        keys = sorted({k for ks in failing.values() for k in ks})
        cmd = " && ".join(f"sysctl -w {k}=0" for k in keys)
        return Finding(
            ID,
            Status.FAIL,
            f"Strict rp_filter (1) is on for {len(failing)} node(s) hosting target pods ({', '.join(sorted(failing))}); "
            f"with {mode} it drops the load balancer's packets to pod ENIs",
            evidence=evidence,
            next_step=f"On each listed node: `{cmd}` (2, loose, also works), then remove the setting from /etc/sysctl.conf "
            "or /etc/sysctl.d so it does not come back on reboot.",
            cause="network-sg",  # packets silently dropped on the way in, as a firewall would
            supports=("network-sg",),
        )
    if not looked:
        return Finding(ID, Status.SKIP, "The node output holds no rp_filter sysctl", evidence=evidence)
    return Finding(ID, Status.PASS, f"rp_filter is not strict on the {looked} read node(s) hosting target pods ({mode})", evidence=evidence)
