"""PROBE-LISTEN from live loopback probes and from netstat/ss output in a dump."""

from __future__ import annotations

from checks.collect.node import facts_from_text
from checks.collect.probe import LISTEN_NOT_ALLOWED
from checks.model import Status
from checks.state import ProbeResult
from tests import factories as f

NETSTAT_LOCAL_ONLY = """\
Proto Recv-Q Send-Q Local Address           Foreign Address         State       PID/Program name
tcp        0      0 127.0.0.1:8080          0.0.0.0:*               LISTEN      1/python3
tcp        0      0 0.0.0.0:9090            0.0.0.0:*               LISTEN      1/python3
"""
SS_ALL = """\
State  Recv-Q Send-Q Local Address:Port  Peer Address:Port Process
LISTEN 0      511    0.0.0.0:8080        0.0.0.0:*     users:(("nginx",pid=9,fd=6))
"""


def base_state(**options):
    svc = f.service(ports=[{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP", "nodePort": 30080}],
                    annotations={"service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip"})
    return f.make_state(svc, f.pod("web-1", ip="127.0.0.2"), **options)


def listen(ok: bool, error: str):
    return ProbeResult(kind="listen", subject="pod shop/web-1", address="127.0.0.1", port=8080, ok=ok, error=error, timeout_s=5)


def tcp(ok: bool, error: str = ""):
    return ProbeResult(kind="tcp", subject="pod shop/web-1", address="127.0.0.2", port=8080, ok=ok, error=error, timeout_s=5)


def run(state):
    return f.run_check("PROBE-LISTEN", state)


def test_fires_on_live_localhost_only():
    state = base_state(probe=True)
    state.probes += [tcp(False, "connection refused"),
                     listen(False, "answers on 127.0.0.1:8080 but refuses 127.0.0.2:8080: listening on localhost only")]
    [fd] = run(state)
    assert fd.status == Status.FAIL and fd.cause == "listen-localhost" and fd.supports == ("listen-localhost",)
    assert "Port 8080 answers only on localhost" in fd.summary and "0.0.0.0" in fd.next_step


def test_fires_on_netstat_from_dump():
    state = base_state(offline=True)
    state.skipped_reads["probe"] = "offline dump: probes need the live network"
    state.node_facts["shop/web-1"] = facts_from_text("# pod: shop/web-1\n" + NETSTAT_LOCAL_ONLY)
    [fd] = run(state)
    assert fd.status == Status.FAIL
    assert fd.evidence[0] == "shop/web-1: port 8080 listens on 127.0.0.1 only (netstat/ss)"


def test_passes_on_ss_listing_all_addresses():
    state = base_state(offline=True)
    state.skipped_reads["probe"] = "offline dump: probes need the live network"
    state.node_facts["web-1"] = facts_from_text(SS_ALL)
    [fd] = run(state)
    assert fd.status == Status.PASS and "0.0.0.0" in fd.evidence[0]


def test_warns_when_nothing_listens_on_the_port():
    state = base_state(offline=True)
    state.node_facts["web-1"] = facts_from_text(NETSTAT_LOCAL_ONLY.replace("127.0.0.1:8080", "127.0.0.1:7070"))
    [fd] = run(state)
    assert fd.status == Status.WARN and "targetport" in fd.supports


def test_passes_when_targets_accept_on_their_ip():
    state = base_state(probe=True)
    state.probes.append(tcp(True))
    [fd] = run(state)
    assert fd.status == Status.PASS and "no port is localhost-only" in fd.summary


def test_passes_when_loopback_is_closed_too():
    state = base_state(probe=True)
    state.probes += [tcp(False, "connection refused"), listen(True, "127.0.0.1:8080 also: connection refused")]
    [fd] = run(state)
    assert fd.status == Status.PASS


def test_skips_when_exec_not_allowed():
    state = base_state(probe=True)
    state.probes.append(tcp(False, "connection refused"))
    state.skipped_reads["probe.listen"] = f"{LISTEN_NOT_ALLOWED} (refused: 127.0.0.2:8080)"
    [fd] = run(state)
    assert fd.status == Status.SKIP and "needs exec into the pod (netstat/ss); not allowed" in fd.summary
    assert "kubectl exec -n shop web-1" in fd.next_step and "netstat -anltu | grep -w 8080" in fd.next_step


def test_skips_without_probes_or_facts():
    state = base_state()
    state.skipped_reads["probe"] = "--no-probe given"
    [fd] = run(state)
    assert fd.status == Status.SKIP and "--no-probe given" in fd.summary


def test_odd_facts_do_not_crash():
    state = base_state(offline=True)
    state.node_facts.update({"a": {"listen": [None, {"port": "x"}, {}]}, "b": "nonsense", "c": {"listen": "nope"}})
    [fd] = run(state)
    assert fd.status in (Status.SKIP, Status.WARN, Status.PASS)
