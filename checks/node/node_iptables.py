"""NODE-IPTABLES: the node's filter table lets the load balancer's probes through.

Seed 004, "check whether the node's iptables intercepts forwarding" (`iptables -nvL FORWARD`):
- the FORWARD policy must be ACCEPT; DROP may block forwarding to pods;
- FORWARD should jump only to KUBE-FORWARD, KUBE-SERVICES, KUBE-EXTERNAL-SERVICES and DOCKER-USER
  (kube-proxy's own KUBE-PROXY-FIREWALL too); other chains (a CNI's, a host firewall's) may block
  forwarding: listed as a warning, since common CNIs add their own;
- INPUT must admit the probe source on the health-check port (seed 004 CVM step 3:
  `iptables -A INPUT -p tcp -s 100.64.0.0/10 --dport 80 -j ACCEPT`): Tencent CLB probes come
  from 100.64.0.0/10 when SourceIpType is 1 (and Tencent says no security-group rule is needed
  for it, but host firewalls must admit it), from the VIP when 0; AWS probes from the VPC.

INPUT sees only traffic that ends on the node itself: kube-proxy's healthCheckNodePort, and every
NodePort in IPVS mode. In iptables mode NodePort traffic is DNATed to the pod first and crosses
FORWARD instead, so a blocking INPUT is a warning there, and FORWARD is evaluated for the pod port.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from checks.lbview import probe_sources as lb_probe_sources
from checks.lbview import target_type
from checks.model import Finding, Status
from checks.node._common import Outcome, Probe, clean_iptables, evaluate, facts_with
from checks.probe._targets import plan, resolve_target_port, tcp_service_ports
from checks.providers.base import external_traffic_local
from checks.providers.tencent import TENCENT_PROBE_RANGE as CLB_PROBE_RANGE
from checks.registry import check
from checks.state import State

ID = "NODE-IPTABLES"
ALLOWED_FORWARD = ("KUBE-FORWARD", "KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "DOCKER-USER")
KUBE_PROXY_CHAINS = ("KUBE-PROXY-FIREWALL", "KUBE-NODEPORTS")
# chains CNIs and container runtimes add to FORWARD: expected on such clusters, still listed
KNOWN_CNI = {
    "DOCKER": "Docker", "DOCKER-FORWARD": "Docker", "DOCKER-ISOLATION-STAGE-1": "Docker", "DOCKER-ISOLATION-STAGE-2": "Docker",
    "cali-FORWARD": "Calico", "FLANNEL-FWD": "Flannel", "CILIUM_FORWARD": "Cilium", "KUBE-ROUTER-FORWARD": "kube-router",
    "WEAVE-NPC": "Weave", "WEAVE-NPC-EGRESS": "Weave", "WEAVE-EXPOSE": "Weave", "CNI-FORWARD": "CNI portmap/firewall plugin",
    "AWS-SNAT-CHAIN-0": "AWS VPC CNI", "TKE-FORWARD": "TKE", "ANTREA-FORWARD": "Antrea", "OVN-KUBE-FORWARD": "OVN-Kubernetes",
}


def probe_sources(state: State) -> tuple[list[str], str]:
    """CIDRs the load balancer's probes come from, and how that is known ('' when unknown)."""
    sources, how = lb_probe_sources(state)
    return list(dict.fromkeys(s.cidr for s in sources)), how


def _ports(state: State) -> tuple[set[int], set[int], set[int]]:
    """(ports ending on the host: INPUT must admit; NodePorts; pod ports the packets reach via FORWARD)."""
    targets, _ = plan(state)
    host: set[int] = set()
    nodeports: set[int] = set()
    pod_ports: set[int] = set()
    spec = (state.service or {}).get("spec")
    hc_nodeport = spec.get("healthCheckNodePort") if isinstance(spec, dict) else None
    for t in targets:
        if t.pod:
            pod_ports.add(t.port)
        elif external_traffic_local(state) and t.port == hc_nodeport:
            host.add(t.port)
        else:
            nodeports.add(t.port)
    if nodeports:
        for sp in tcp_service_ports(state):
            if sp.get("nodePort") in nodeports:
                for pod in state.selected_pods[:3]:
                    n = resolve_target_port(sp, pod)
                    if n:
                        pod_ports.add(n)
    return host, nodeports, pod_ports


def _ipvs(ipt: dict[str, Any]) -> bool:
    if "KUBE-NODE-PORT" in (ipt.get("chains") or []):
        return True
    return any("KUBE-" in o and "match-set" in o for rules in (ipt.get("rules") or {}).values() for r in rules for o in r.get("other") or [])


def _outcome_text(o: Outcome) -> str:
    if o.verdict.startswith("POLICY-"):
        return f"falls through to the chain policy {o.rule.split()[-1]}"
    return f"{o.verdict} by `{o.rule}`"


def _judge(node: str, ipt: Any, state: State, sources: list[str], how: str,
           ports: tuple[set[int], set[int], set[int]]) -> tuple[list[str], list[str], list[str]]:
    """(fail lines, warn lines, ok lines) for one node."""
    fails: list[str] = []
    warns: list[str] = []
    oks: list[str] = []
    ipt = clean_iptables(ipt)
    policies = ipt["policies"]
    rules = ipt["rules"]
    ip_targets = target_type(state) == "ip"

    policy = policies.get("FORWARD", "ACCEPT")
    if policy in ("DROP", "REJECT"):
        marked = any("0x4000" in " ".join(r.get("other") or []) and r.get("target") == "ACCEPT" for r in rules.get("KUBE-FORWARD", []))
        text = f"node {node}: FORWARD policy is {policy} (must be ACCEPT)"
        if ip_targets or not marked:
            fails.append(text)
        else:
            warns.append(text + "; only packets kube-proxy marks (0x4000, NodePort traffic) are accepted by KUBE-FORWARD")
    else:
        oks.append(f"node {node}: FORWARD policy {policy}")

    extra = [c for c in ipt.get("forward_jumps") or [] if c not in ALLOWED_FORWARD and c not in KUBE_PROXY_CHAINS]
    for chain in extra:
        label = f" ({KNOWN_CNI[chain]})" if chain in KNOWN_CNI else ""
        warns.append(f"node {node}: FORWARD jumps to {chain}{label}, beyond {', '.join(ALLOWED_FORWARD)}; it may drop forwarded traffic")
    for r in rules.get("FORWARD", []):
        if r.get("target") in ("DROP", "REJECT") and not r.get("source") and not r.get("ctstate") and not r.get("other") and not r.get("in_iface") and not r.get("dports"):
            fails.append(f"node {node}: FORWARD drops everything: `{r.get('raw')}`")

    host_ports, nodeports, pod_ports = ports
    ipvs = _ipvs(ipt)
    if not sources:
        oks.append(f"node {node}: probe source unknown, INPUT/FORWARD not evaluated for it")
        return fails, warns, oks
    for src in sources:
        net = ipaddress.ip_network(src, strict=False)
        for port in sorted(host_ports | nodeports):
            o = evaluate(ipt, "INPUT", Probe(net, port))
            where = "healthCheckNodePort" if port in host_ports else "NodePort"
            if o.admitted:
                oks.append(f"node {node}: INPUT admits {src} to {where} {port} ({_outcome_text(o)})")
                continue
            text = f"node {node}: INPUT does not admit {src} ({how}) to {where} {port}: {_outcome_text(o)}"
            if port in host_ports or ipvs:
                fails.append(text + (" (IPVS mode: NodePorts end on the node)" if ipvs and port not in host_ports else ""))
            else:
                warns.append(text + " (iptables mode DNATs NodePort traffic before INPUT, so it matters for host-network listeners)")
        for port in sorted(pod_ports):
            o = evaluate(ipt, "FORWARD", Probe(net, port))
            if o.verdict in ("DROP", "REJECT"):
                fails.append(f"node {node}: FORWARD {o.verdict.lower()}s {src} to pod port {port}: `{o.rule}`")
    return fails, warns, oks


@check(
    ID,
    title="Node iptables let the load balancer's probes through (FORWARD policy and chains, INPUT)",
    seed="004: iptables FORWARD policy ACCEPT, only KUBE-FORWARD/KUBE-SERVICES/KUBE-EXTERNAL-SERVICES/DOCKER-USER; iptables -A INPUT -s 100.64.0.0/10",
    reads=("k8s.service",),
    uses=("node", "k8s.pods", "k8s.nodes", "tencent.clb"),
    severity=65,
    opt_in=True,
)
def node_iptables(state: State) -> Finding:
    """Judge the filter table of each target node for the load balancer's probes."""
    nodes, errors, stop = facts_with(state, "iptables", ID)
    if stop:
        return stop
    sources, how = probe_sources(state)
    ports = _ports(state)
    fails: list[str] = []
    warns: list[str] = []
    oks: list[str] = []
    for node, facts in nodes.items():
        f, w, o = _judge(node, facts.get("iptables"), state, sources, how, ports)
        fails += f
        warns += w
        oks += o
    evidence = fails + warns + oks + errors
    host_ports, nodeports, pod_ports = ports
    port = min(host_ports | nodeports or pod_ports, default=None)
    steps = []
    if any("FORWARD policy" in x for x in fails + warns):
        steps.append("`iptables -P FORWARD ACCEPT` on the node (find what sets DROP: Docker does on start, some hardening scripts too)")
    if any("INPUT does not admit" in x for x in fails + warns):
        src = sources[0] if sources else CLB_PROBE_RANGE
        steps.append(f"`iptables -I INPUT -p tcp -s {src} --dport {port or 'PORT'} -j ACCEPT`, then persist it "
                     "(`service iptables save` on CentOS/RHEL, `netfilter-persistent save` on Ubuntu/Debian)")
    if any("jumps to" in x or "drops" in x for x in fails + warns):
        steps.append("review the extra chains with `iptables -S FORWARD` and `iptables -S CHAIN`; remove rules that drop the load balancer's traffic")
    next_step = "; ".join(steps)
    if fails:
        return Finding(ID, Status.FAIL, "On " + fails[0] + (f" (and {len(fails) - 1} more)" if len(fails) > 1 else ""),
                       evidence=evidence, next_step=next_step, cause="network-sg", supports=("network-sg",))
    if warns:
        return Finding(ID, Status.WARN, "On " + warns[0] + (f" (and {len(warns) - 1} more)" if len(warns) > 1 else ""),
                       evidence=evidence, next_step=next_step, supports=("network-sg",))
    return Finding(ID, Status.PASS, f"The filter table of the {len(nodes)} read node(s) lets the load balancer's probes through",
                   evidence=evidence)
