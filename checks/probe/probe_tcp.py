"""PROBE-TCP: a TCP connection to each target the load balancer probes succeeds (the seeds' `nc -z`).

For a TCP health check this is exactly what the load balancer does. For an HTTP one it splits
the question in two: the port accepts connections (so a failing HTTP check is about the path,
codes or the app) or it does not (closed port, localhost-only listener, network).
"""

from __future__ import annotations

from checks.lbview import health_checks
from checks.model import Finding, Status
from checks.probe._common import CLOSED_PORT, NETWORK, capped, classify, split
from checks.probe._targets import nc_command
from checks.registry import check
from checks.state import ProbeResult, State

ID = "PROBE-TCP"


def _line(r: ProbeResult) -> str:
    if r.ok:
        return f"{r.subject} {r.address}:{r.port}: connected in {r.elapsed_ms:g} ms"
    return f"{r.subject} {r.address}:{r.port}: {r.error or 'failed'} (timeout {r.timeout_s:g}s)"


@check(
    ID,
    title="Targets accept TCP connections on the health-check port",
    seed="Test a health check manually (nc -z); 004: telnet IP PORT",
    reads=("k8s.service", "probe"),
    uses=("k8s.pods", "k8s.nodes"),
    severity=50,
)
def probe_tcp(state: State) -> Finding:
    """Connect (and close) to each target's health-check port, as a TCP health check does."""
    done, skipped = split(state, "tcp")
    if not done:
        if not health_checks(state):
            return Finding(ID, Status.SKIP, "No load-balancer health check is known for this Service, so there is nothing to connect to")
        why = f": {skipped[0].removeprefix('not probed: ')}" if skipped else ""
        return Finding(ID, Status.SKIP, f"No target was probed{why}", evidence=skipped)
    bad = [r for r in done if not r.ok]
    evidence = capped([_line(r) for r in bad + [r for r in done if r.ok]]) + skipped
    tcp_hc = any(hc.protocol.upper() in ("TCP", "TLS", "TCP_SSL") for hc in health_checks(state))
    if not bad:
        ports = ", ".join(str(p) for p in sorted({r.port for r in done}))
        return Finding(ID, Status.PASS, f"All {len(done)} probed target(s) accept TCP connections on port {ports}", evidence=evidence)
    refused = [r for r in bad if classify(r) in ("refused", "reset")]
    timeouts = [r for r in bad if classify(r) == "timeout"]
    supports: list[str] = []
    if refused:
        supports += CLOSED_PORT
    if timeouts:
        supports += NETWORK
    first = (refused or timeouts or bad)[0]
    ports = ", ".join(str(p) for p in sorted({r.port for r in bad}))
    if len(refused) >= len(timeouts) and refused:
        what = f"refuse connections on port {ports}"
        advice = (" Nothing listens there: compare the Service targetPort with the container port, check the pods are ready "
                  "and that the app listens on 0.0.0.0 (PROBE-LISTEN).")
    elif timeouts:
        what = f"do not accept a connection on port {ports} within {first.timeout_s:g}s"
        advice = (" Packets are dropped on the way: check security groups (node/ENI), NetworkPolicies, the node's iptables "
                  "(NODE-IPTABLES) and kube-proxy.")
    else:
        what = f"fail TCP connections on port {ports} ({first.error})"
        advice = ""
    summary = f"{len(bad)} of {len(done)} target(s) {what}"
    if not tcp_hc:
        summary += " (the health check is HTTP; this is the connection under it)"
    step = f"From a pod in the cluster: `{nc_command(first.address, first.port, first.timeout_s)}`." + advice
    return Finding(ID, Status.FAIL, summary, evidence=evidence, next_step=step, supports=tuple(dict.fromkeys(supports)))
