"""PROBE-LISTEN: the health-check port answers only on localhost, not on the pod/node IP.

Seed 004: "the listening address must be 0.0.0.0 or the machine's private IP; if it is only
127.0.0.1 the problem is inside the machine" (`netstat -anltu | grep -w 80`, `ss -lnt`). An app
bound to 127.0.0.1 passes its own `curl localhost` test and every exec-based readiness probe, yet
refuses every load-balancer probe.

Evidence, in order of strength: a live loopback probe where the worker shares the target's network
namespace (options["listen_probe"]), or netstat/ss output read from a dump (node_facts[...]["listen"]).
Elsewhere reading it needs an exec into the pod, which the worker is not allowed: skip, and say so.
"""

from __future__ import annotations

import ipaddress

from checks.model import Finding, Status
from checks.probe._common import capped, not_run, split
from checks.probe._targets import SKIP_LISTEN, plan, resolve_target_port, tcp_service_ports
from checks.registry import check
from checks.state import State

ID = "PROBE-LISTEN"


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(str(address).split("%", 1)[0]).is_loopback
    except ValueError:
        return str(address) == "localhost"


def _ports_by_subject(state: State) -> tuple[dict[str, set[int]], set[int]]:
    """Planned ports per pod/node name (both 'ns/name' and 'name' keys), and all planned ports."""
    by: dict[str, set[int]] = {}
    every: set[int] = set()
    try:
        targets, _ = plan(state)
    except Exception:  # noqa: BLE001 - odd objects: fall back to "every port seen"
        targets = []
    for t in targets:
        every.add(t.port)
        for key in filter(None, (t.pod, t.pod.split("/", 1)[-1] if t.pod else "", t.node if not t.pod else "", t.address)):
            by.setdefault(key, set()).add(t.port)
    return by, every


def _pod_ports(state: State, subject: str) -> set[int]:
    """The Service's target ports in pod `subject` (netstat run inside a pod shows container ports,
    while node targets are planned on their NodePort)."""
    name = subject.split("/", 1)[-1]
    pod = next((p for p in state.selected_pods if ((p.get("metadata") or {}).get("name")) == name), None)
    if pod is None:
        return set()
    ports = {resolve_target_port(p, pod) for p in tcp_service_ports(state)}
    return {p for p in ports if isinstance(p, int)}


def _exec_step(state: State, ports: set[int]) -> str:
    pod = next(iter(state.selected_pods), None)
    name = ((pod or {}).get("metadata") or {}).get("name") or "POD"
    port = min(ports) if ports else 80
    return (f"`kubectl exec -n {state.target.namespace} {name} -- sh -c 'netstat -anltu | grep -w {port} || ss -lnt'`: "
            f"the port must listen on 0.0.0.0 (or the pod IP), not only on 127.0.0.1.")


FIX_ADVICE = ("Make the app listen on all addresses instead of 127.0.0.1 (nginx `listen {port};`, gunicorn "
              "`--bind 0.0.0.0:{port}`, Node `server.listen({port}, '0.0.0.0')`, Spring `server.address=0.0.0.0`), "
              "then redeploy. Check with `netstat -anltu | grep -w {port}` in the pod.")


@check(
    ID,
    title="The health-check port listens on the pod/node IP, not only on localhost",
    seed="004: netstat -anltu | grep -w 80 must show 0.0.0.0 or the private IP, not only 127.0.0.1",
    reads=("k8s.service",),
    uses=("probe", "k8s.pods", "k8s.nodes"),
    severity=70,
)
def probe_listen(state: State) -> Finding:
    """Find ports that answer on 127.0.0.1 only (live loopback probe, or netstat/ss output in a dump)."""
    done, skipped = split(state, "listen")
    by_subject, every = _ports_by_subject(state)
    fails: list[str] = []
    fail_ports: set[int] = set()
    good: list[str] = []
    closed: list[str] = []

    for r in done:
        if r.ok:
            good.append(f"{r.subject}: port {r.port} refused on the target IP and on {r.address} too ({r.error or 'closed'}): not a localhost-only listener")
        else:
            fails.append(f"{r.subject}: {r.error}")
            fail_ports.add(r.port)

    for key, facts in sorted(state.node_facts.items()):
        entries = (facts or {}).get("listen") if isinstance(facts, dict) else None
        if not isinstance(entries, list) or not entries:
            continue
        subject = str(facts.get("pod") or key)
        ports = (by_subject.get(subject) or by_subject.get(subject.split("/", 1)[-1])
                 or _pod_ports(state, subject) or every)
        if not ports:
            ports = {e.get("port") for e in entries if isinstance(e, dict) and isinstance(e.get("port"), int)}
        for port in sorted(p for p in ports if isinstance(p, int)):
            addrs = sorted({str(e.get("address")) for e in entries if isinstance(e, dict) and e.get("port") == port})
            if not addrs:
                listening = ", ".join(sorted({f"{e.get('address')}:{e.get('port')}" for e in entries if isinstance(e, dict)}))
                closed.append(f"{subject}: nothing listens on port {port} (listening: {listening or 'nothing'})")
            elif all(_loopback(a) for a in addrs):
                fails.append(f"{subject}: port {port} listens on {', '.join(addrs)} only (netstat/ss)")
                fail_ports.add(port)
            else:
                good.append(f"{subject}: port {port} listens on {', '.join(addrs)}")

    if fails:
        port = min(fail_ports)
        return Finding(
            ID,
            Status.FAIL,
            f"Port {', '.join(str(p) for p in sorted(fail_ports))} answers only on localhost: the load balancer, which connects "
            "to the pod/node IP, is refused",
            evidence=capped(fails + closed + good),
            next_step=FIX_ADVICE.format(port=port),
            cause="listen-localhost",
            supports=("listen-localhost",),
        )
    if closed:
        return Finding(
            ID,
            Status.WARN,
            "Nothing listens on the health-check port, on any address (netstat/ss): not a localhost-only listener, a closed port",
            evidence=capped(closed + good),
            next_step="Compare the Service targetPort with the port the app really listens on (K8S-TARGETPORT).",
            supports=("targetport", "pods-not-ready"),
        )
    if good:
        return Finding(ID, Status.PASS, "The health-check port is not bound to localhost only", evidence=capped(good))
    if skipped:
        tcp_done, _ = split(state, "tcp")
        ports = {r.port for r in tcp_done if "refused" in (r.error or "")} or every
        reason = state.skipped_reads[SKIP_LISTEN]
        return Finding(
            ID,
            Status.SKIP,
            f"Port {', '.join(str(p) for p in sorted(ports))} was refused; whether it listens on 127.0.0.1 only is unknown: {reason}",
            evidence=skipped,
            next_step=_exec_step(state, ports),
        )
    tcp_done, _ = split(state, "tcp")
    if tcp_done and all(r.ok for r in tcp_done):
        ports_txt = ", ".join(str(p) for p in sorted({r.port for r in tcp_done}))
        return Finding(
            ID,
            Status.PASS,
            f"Every probed target accepts connections on its own IP (port {ports_txt}), so no port is localhost-only",
            evidence=capped([f"{r.subject} {r.address}:{r.port}: connected" for r in tcp_done]),
        )
    stopped = not_run(state, ID)
    if stopped:
        stopped.next_step = stopped.next_step or _exec_step(state, every)
        return stopped
    if tcp_done:
        return Finding(
            ID,
            Status.SKIP,
            "Targets did not accept the connection, but not by refusing it (timeouts): a localhost-only listener would refuse",
            evidence=capped([f"{r.subject} {r.address}:{r.port}: {r.error}" for r in tcp_done if not r.ok]),
        )
    return Finding(ID, Status.SKIP, "No probe or netstat/ss output to tell which addresses the port listens on")
