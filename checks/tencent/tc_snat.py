"""TC-SNAT: IDC backends over CCN / Direct Connect must admit the CLB's SNAT IPs."""

from __future__ import annotations

from checks.model import Finding, Status
from checks.registry import check
from checks.state import State
from checks.tencent._common import (
    as_bool,
    as_dict,
    as_list,
    backend_ips,
    backends,
    region_flag,
    target_refs,
    tied_lbs,
)

ID = "TC-SNAT"
IDC_TYPES = ("CCN", "NAT", "DC")


@check(
    ID,
    title="IDC backends admit the CLB's SNAT IPs",
    seed="004 步骤4: 确认 IDC 放通 SNAT IP",
    reads=("tencent.clb",),
    uses=("tencent.target_health",),
    severity=60,
)
def tc_snat(state: State) -> Finding:
    """A CLB that reaches machines in an IDC over CCN or Direct Connect (targets of type CCN,
    or SnatPro with SNAT IPs) sends them traffic and probes from its SNAT IPs, not from the
    VIP or 100.64.0.0/10. The IDC's firewalls and the machines' iptables must admit those
    addresses; nothing in the VPC shows whether they do, so list them next to the failing
    targets."""
    tied = tied_lbs(state)
    idc = [b for b in backends(state, tied) if str(b.get("Type") or "").upper() in IDC_TYPES]
    snat_lbs = [t for t in tied if as_bool(t.lb.get("SnatPro"))]
    if not idc and not snat_lbs:
        return Finding(ID, Status.SKIP, "No IDC backend over CCN/Direct Connect and no SnatPro: SNAT IPs are not involved")
    snat_ips = [str(as_dict(s).get("Ip")) for t in tied for s in as_list(t.lb.get("SnatIps")) if as_dict(s).get("Ip")]
    idc_ips = {ip for b in idc for ip in backend_ips(b)}
    evidence = [f"CLB {t.lb_id}: SnatPro {t.lb.get('SnatPro')}, SNAT IPs {', '.join(str(as_dict(s).get('Ip')) for s in as_list(t.lb.get('SnatIps'))) or 'none'}" for t in tied]
    for b in idc:
        evidence.append(f"IDC backend {', '.join(backend_ips(b)) or '?'}:{b.get('Port')} (type {b.get('Type')}, listener {b.get('_listener')})")
    bad = [t for t in target_refs(state, tied) if t.healthy is False and (not idc_ips or t.ip in idc_ips)]
    for t in bad:
        evidence.append(f"{t.address} is unhealthy ({t.detail or 'Dead'})")
    lb_id = tied[0].lb_id
    if not snat_ips:
        return Finding(
            ID,
            Status.FAIL if idc else Status.WARN,
            f"CLB {lb_id} has IDC backends but no SNAT IP: it cannot reach them across CCN/Direct Connect",
            evidence=evidence,
            next_step=f"Enable SnatPro and add SNAT IPs: tccli clb CreateLoadBalancerSnatIps{region_flag(state)} --LoadBalancerId {lb_id} --SnatIps '[{{\"SubnetId\":\"<subnet>\"}}]'",
            cause="snat",
        )
    ports = sorted({str(b.get("Port")) for b in idc if b.get("Port")}) or ["<port>"]
    # One rule for every SNAT IP and port (iptables expands the lists), inserted before any DROP.
    match = f"--dport {ports[0]}" if len(ports) == 1 else f"-m multiport --dports {','.join(ports[:15])}"
    cmds = f"iptables -I INPUT -p tcp -s {','.join(snat_ips)} {match} -j ACCEPT"
    if bad:
        return Finding(
            ID,
            Status.FAIL,
            f"{len(bad)} IDC backend(s) of CLB {lb_id} fail health checks: their firewall must admit the SNAT IPs {', '.join(snat_ips)}",
            evidence=evidence,
            next_step=f"On the IDC firewall and hosts admit the SNAT IPs: {cmds}",
            cause="snat",
        )
    return Finding(
        ID,
        Status.PASS,
        f"IDC backends of CLB {lb_id} are healthy; they must keep admitting the SNAT IPs {', '.join(snat_ips)}",
        evidence=evidence,
        next_step=f"On the IDC firewall and hosts: {cmds}",
    )
