"""AWS-DHCP: a custom domain name in the VPC's DHCP options breaks kube-proxy's node name (seed 000)."""

from __future__ import annotations

from checks.aws._common import region
from checks.aws._net import vpc_by_id
from checks.model import Finding, Status
from checks.providers.aws.mapping import service_load_balancers, service_target_groups
from checks.providers.base import external_traffic_local
from checks.registry import check
from checks.state import State, meta

CHECK = "AWS-DHCP"


def default_domain(region_name: str) -> str:
    return "ec2.internal" if region_name == "us-east-1" else f"{region_name}.compute.internal"


@check(
    CHECK,
    title="The VPC's DHCP options keep the default EC2 domain name",
    seed="NLB with externalTrafficPolicy Local and custom DNS in the DHCP options set (seed 000)",
    reads=("aws.elbv2", "aws.dhcp"),
    uses=("k8s.nodes", "k8s.service"),
    severity=40,
)
def dhcp(state: State) -> Finding:
    """With a custom `domain-name` in the DHCP options, a node's OS hostname is no longer its
    Kubernetes node name. kube-proxy looks itself up by hostname, finds no node, and its
    healthCheckNodePort answers that the node has no local endpoints, so an NLB with
    `externalTrafficPolicy: Local` sees every node unhealthy. The fix is
    `--hostname-override` on kube-proxy (K8S-TRAFFIC-POLICY, FIX-KUBE-PROXY-HOSTNAME).
    """
    tgs = [tg for tg, _ in service_target_groups(state)]
    if not external_traffic_local(state) or not any(tg.get("TargetType") == "instance" for tg in tgs):
        return Finding(
            CHECK,
            Status.SKIP,
            "Only matters with externalTrafficPolicy Local and instance targets (kube-proxy answers the health check)",
        )
    vpc_ids = [tg.get("VpcId") for tg, _ in service_target_groups(state) if tg.get("VpcId")]
    vpc_ids += [lb.get("VpcId") for lb in service_load_balancers(state) if lb.get("VpcId")]
    vpc = next((vpc_by_id(state, v) for v in vpc_ids if vpc_by_id(state, v)), None)
    if vpc is None and len(state.aws.vpcs) == 1:
        vpc = state.aws.vpcs[0]
    if vpc is None:
        return Finding(CHECK, Status.SKIP, "The VPC of the load balancer was not read")
    opts_id = vpc.get("DhcpOptionsId")
    opts = next((o for o in state.aws.dhcp_options if o.get("DhcpOptionsId") == opts_id), None)
    if opts_id == "default" or (opts is None and not opts_id):
        return Finding(CHECK, Status.PASS, f"VPC {vpc.get('VpcId')} uses the default DHCP options")
    if opts is None:
        return Finding(CHECK, Status.SKIP, f"DHCP options {opts_id} of VPC {vpc.get('VpcId')} were not read")
    domains: list[str] = []
    for conf in opts.get("DhcpConfigurations") or []:
        if conf.get("Key") == "domain-name":
            for v in conf.get("Values") or []:
                domains.extend(str(v.get("Value") or "").split())
    reg = region(state)
    if reg:
        expected = {default_domain(reg)}
    else:
        expected = {d for d in domains if d == "ec2.internal" or d.endswith(".compute.internal")} or {
            "ec2.internal"
        }
    custom = [d for d in domains if d not in expected]
    evidence = [f"VPC {vpc.get('VpcId')} DHCP options {opts_id}: domain-name {' '.join(domains) or '(none)'}"]
    if not custom:
        return Finding(
            CHECK, Status.PASS, f"DHCP options {opts_id} keep the default domain name", evidence=evidence
        )
    names = [meta(n).get("name") or "" for n in state.nodes]
    evidence.append(f"expected {' or '.join(sorted(expected))} for region {reg or '?'}")
    if names:
        evidence.append("node names: " + ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else ""))
    return Finding(
        CHECK,
        Status.WARN,
        f"VPC {vpc.get('VpcId')} sets a custom DHCP domain name ({custom[0]}): kube-proxy needs --hostname-override "
        "or the NLB health checks on healthCheckNodePort fail on every node",
        evidence=evidence,
        next_step="kubectl -n kube-system get daemonset kube-proxy -o yaml | grep -n hostname-override  # missing: apply FIX-KUBE-PROXY-HOSTNAME",
        supports=("kube-proxy-hostname",),
    )
