"""TC-PROBE-SOURCE: where CLB's health-check packets come from, and who must admit them."""

from __future__ import annotations

from checks.model import Finding, Status
from checks.registry import check
from checks.state import State
from checks.tencent._common import (
    PROBE_RANGE,
    RANGE_SOURCE,
    VIP_SOURCE,
    health_check_refs,
    kube_proxy_mode,
    region_flag,
)

ID = "TC-PROBE-SOURCE"


@check(
    ID,
    title="CLB health-check source (VIP or 100.64.0.0/10) fits the cluster",
    seed="004 步骤1: 查看实例健康探测源 IP",
    reads=("tencent.clb",),
    uses=("k8s.kube_proxy",),
    severity=65,
)
def tc_probe_source(state: State) -> Finding:
    """CLB probes from its VIP (SourceIpType 0) or from 100.64.0.0/10 (SourceIpType 1). The
    100.64.0.0/10 range needs no security-group rule but host firewalls (iptables) must admit
    it; the VIP must be admitted everywhere. With IPVS-mode kube-proxy every node binds the
    Service's load-balancer IP on kube-ipvs0, so a probe whose source is that VIP looks local:
    the reply never leaves the node and the private CLB marks every backend unhealthy."""
    refs = [r for r in health_check_refs(state) if r.switched_on]
    if not refs:
        return Finding(ID, Status.SKIP, "No switched-on health check on the Service's listeners (see TC-HEALTHCHECK)")
    mode, where = kube_proxy_mode(state)
    evidence: list[str] = []
    vip_refs, range_refs, unknown_refs = [], [], []
    for r in refs:
        sit = r.source_ip_type
        if sit == VIP_SOURCE:
            vip_refs.append(r)
            evidence.append(f"{r.label}: SourceIpType 0: probes come from the CLB VIP {', '.join(r.ref.tied.vips) or '?'}")
        elif sit == RANGE_SOURCE:
            range_refs.append(r)
            evidence.append(f"{r.label}: SourceIpType 1: probes come from {PROBE_RANGE}")
        else:
            unknown_refs.append(r)
            evidence.append(
                f"{r.label}: SourceIpType not reported: accounts that used CLB before 2023-02-24 "
                "probe from the VIP unless switched"
            )
    evidence.append(f"kube-proxy mode: {mode} ({where})" if mode else where)

    if vip_refs and mode == "ipvs":
        first = vip_refs[0]
        internal = [r for r in vip_refs if r.ref.tied.internal]
        status = Status.FAIL if internal or not first.ref.tied.lb.get("LoadBalancerType") else Status.WARN
        pick = internal[0] if internal else first
        lb, lst = pick.ref.tied.lb_id, pick.ref.id
        if pick.rule is not None:
            cmd = f"tccli clb ModifyRule{region_flag(state)} --LoadBalancerId {lb} --ListenerId {lst} --LocationId {pick.rule.get('LocationId')} --HealthCheck '{{\"SourceIpType\":1}}'"
        else:
            cmd = f"tccli clb ModifyListener{region_flag(state)} --LoadBalancerId {lb} --ListenerId {lst} --HealthCheck '{{\"SourceIpType\":1}}'"
        return Finding(
            ID,
            status,
            f"CLB {lb} probes from its VIP {', '.join(pick.ref.tied.vips) or ''} while kube-proxy runs in IPVS mode: nodes treat the VIP as local and drop the replies",
            evidence=evidence,
            next_step="Switch the probe source to 100.64.0.0/10: healthCheck.sourceIpType: 1 in the Service's TkeServiceConfig "
            f"(the TKE controller reverts manual changes), or by hand: {cmd}",
            cause="probe-source",
            supports=("probe-source",),
        )
    ports = sorted({str(t) for t in _backend_ports(state)}) or ["<backend port>"]
    if vip_refs or unknown_refs:
        vips = sorted({v for r in vip_refs + unknown_refs for v in r.ref.tied.vips})
        vip_text = ", ".join(vips) or "the CLB VIP"
        return Finding(
            ID,
            Status.PASS,
            f"Health checks come from the CLB VIP {vip_text}: security groups, network ACLs and host firewalls must admit it",
            evidence=evidence + ["TC-SG and TC-ACL check the VIP against the backend's security groups and subnet ACL"],
            next_step=_admit_command(vips[0] if vips else "<CLB VIP>", ports),
        )
    return Finding(
        ID,
        Status.PASS,
        f"Health checks come from {PROBE_RANGE}: no security-group rule needed, but host firewalls (iptables) must admit {PROBE_RANGE}",
        evidence=evidence,
        next_step=_admit_command(PROBE_RANGE, ports),
    )


def _admit_command(source: str, ports: list[str]) -> str:
    """One rule, inserted first: appended (-A) it would come after a DROP already in the chain."""
    match = f"--dport {ports[0]}" if len(ports) == 1 else f"-m multiport --dports {','.join(ports[:15])}"
    return f"iptables -I INPUT -p tcp -s {source} {match} -j ACCEPT  # on each target node, if its INPUT chain drops"


def _backend_ports(state: State) -> set[int]:
    from checks.tencent._common import target_refs

    return {t.port for t in target_refs(state) if t.port}
