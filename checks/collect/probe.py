"""Probe the load balancer's targets the way the load balancer does (the seeds' "test a health check manually").

The worker runs inside the VPC/cluster; from there it sends each target what the load balancer
sends: same protocol, port, path, Host header, method and timeout; no redirect is followed (a
302 is a 302) and TLS is not verified (load balancers do not verify backend certificates).
Environment proxies are ignored: a probe goes straight to the target or it proves nothing.

Safety: `state.options["probe_allow"]` (a list or comma-separated CIDRs) or the environment
variable `LBHEALTH_PROBE_ALLOW` restricts the addresses probed; a target outside it is recorded
as not probed and no packet is sent to it. Tests and benchmarks set it to 127.0.0.0/8; under
pytest (PYTEST_CURRENT_TEST set) it defaults to 127.0.0.0/8 when neither is given.

Also here: `parse_listen(text)`, a pure parser of `netstat -anltu` / `ss -lnt(u)` output, so that a
dump of such output can feed PROBE-LISTEN offline.
"""

from __future__ import annotations

import http.client
import ipaddress
import os
import re
import socket
import ssl
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

from checks.probe._targets import MAX_TARGETS, SKIP_ALLOW, SKIP_CAP, SKIP_LISTEN, ProbeTarget, plan
from checks.state import ProbeResult, State

CONCURRENCY = 16
ALLOW_ENV = "LBHEALTH_PROBE_ALLOW"
TEST_DEFAULT_ALLOW = "127.0.0.0/8"
USER_AGENT = "lbhealth-probe/1.0 (load-balancer health-check replay)"
LOOPBACK = "127.0.0.1"
LISTEN_NOT_ALLOWED = "needs exec into the pod (netstat/ss); not allowed"


# ---- allow-list ------------------------------------------------------------------------------


def allow_list(state: State) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network] | None:
    """The CIDRs probes may go to, or None when unrestricted. Raises ValueError on a bad CIDR."""
    raw: Any = state.options.get("probe_allow")
    if raw is None:
        raw = os.environ.get(ALLOW_ENV)
    if raw is None and "PYTEST_CURRENT_TEST" in os.environ:
        raw = TEST_DEFAULT_ALLOW  # safety net: under pytest, probes never leave loopback unless a test says so
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    items: Iterable[str] = raw.split(",") if isinstance(raw, str) else raw
    return [ipaddress.ip_network(str(i).strip(), strict=False) for i in items if str(i).strip()]


def allowed(address: str, allow: list[Any] | None) -> bool:
    if allow is None:
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False  # hostnames are never probed under an allow-list: they could resolve anywhere
    return any(ip.version == net.version and ip in net for net in allow)


# ---- one probe -------------------------------------------------------------------------------


def _error_text(exc: BaseException, timeout_s: float) -> str:
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return f"timeout after {timeout_s:g}s"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset by peer"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "connection closed without a response"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed: {exc.reason or exc}"
    if isinstance(exc, http.client.InvalidURL):
        return f"cannot send this path: {exc}"
    if isinstance(exc, http.client.HTTPException):
        return f"invalid HTTP response: {type(exc).__name__} {exc}".strip()
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return f"{type(exc).__name__}: {exc}"


def _default_host(t: ProbeTarget) -> str:
    """What ALB/NLB put in Host when none is configured: the target's address and port."""
    return f"[{t.address}]:{t.port}" if ":" in t.address else f"{t.address}:{t.port}"


def _request_path(path: str) -> str:
    """The path as sent on the request line: spaces and non-ASCII percent-encoded, as curl does."""
    return quote(path or "/", safe="/?&=%:@!$'()*+,;~-._#[]") or "/"


def _base(t: ProbeTarget, kind: str) -> dict[str, Any]:
    return dict(
        kind=kind,
        subject=t.subject,
        address=t.address,
        port=t.port,
        path=t.path if kind == "http" else "",
        host_header=(t.host or _default_host(t)) if kind == "http" else "",
        expected=t.expected if kind == "http" else "",
        timeout_s=t.timeout_s,
    )


def probe_tcp(t: ProbeTarget) -> ProbeResult:
    """`nc -z`: connect, then close without sending anything."""
    start = time.monotonic()
    try:
        sock = socket.create_connection((t.address, t.port), timeout=t.timeout_s)
    except Exception as exc:  # noqa: BLE001 - every failure is a finding, never a crash
        return ProbeResult(ok=False, error=_error_text(exc, t.timeout_s), elapsed_ms=_ms(start), **_base(t, "tcp"))
    sock.close()
    return ProbeResult(ok=True, elapsed_ms=_ms(start), **_base(t, "tcp"))


def _ms(start: float) -> float:
    return round((time.monotonic() - start) * 1000, 1)


def _connection(t: ProbeTarget) -> http.client.HTTPConnection:
    if t.protocol == "HTTPS":
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(t.address, t.port, timeout=t.timeout_s, context=ctx)
    else:
        conn = http.client.HTTPConnection(t.address, t.port, timeout=t.timeout_s)
    if t.http_version == "HTTP/1.0":
        conn._http_vsn = 10  # type: ignore[attr-defined]
        conn._http_vsn_str = "HTTP/1.0"  # type: ignore[attr-defined]
    return conn


def probe_http(t: ProbeTarget) -> ProbeResult:
    """One request as the load balancer sends it; the status line is all that is judged."""
    from checks.providers.base import code_accepted

    start = time.monotonic()
    conn = _connection(t)
    try:
        headers = {"Host": t.host or _default_host(t), "User-Agent": USER_AGENT, "Connection": "close", "Accept": "*/*"}
        conn.request(t.method or "GET", _request_path(t.path), headers=headers)
        resp = conn.getresponse()
        code = resp.status
        location = resp.getheader("Location") or ""
        elapsed = _ms(start)
    except Exception as exc:  # noqa: BLE001
        return ProbeResult(ok=False, error=_error_text(exc, t.timeout_s), elapsed_ms=_ms(start), **_base(t, "http"))
    finally:
        conn.close()
    accepted = code_accepted(t.expected or "200-399", code)
    error = ""
    if not accepted:
        error = f"status {code} not in {t.expected or '200-399'}"
        if 300 <= code < 400 and location:
            error += f"; redirect to {location} (not followed: the load balancer does not follow redirects)"
    slow = elapsed > t.timeout_s * 1000
    if slow:
        error = (error + "; " if error else "") + f"answered after {elapsed:g} ms, later than the {t.timeout_s:g}s timeout"
    return ProbeResult(ok=accepted and not slow, status_code=code, elapsed_ms=elapsed, error=error, **_base(t, "http"))


def _is_local_address(address: str) -> bool:
    """Is the address one of this network namespace's own? (bind test: nothing is sent)."""
    try:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.bind((address, 0))
        return True
    except OSError:
        return False


def probe_listen(t: ProbeTarget, allow: list[Any] | None, listen_allowed: bool) -> ProbeResult | str:
    """The target refused: does the port answer on 127.0.0.1 instead (a localhost-only listener)?

    Meaningful only where the worker shares the target's network namespace (host-network worker
    on the node, or the address is this host's own); elsewhere it needs an exec into the pod.
    Returns the result, or the reason it was not probed.
    """
    if not listen_allowed:
        return LISTEN_NOT_ALLOWED
    if not allowed(LOOPBACK, allow):
        return f"{LOOPBACK} is outside the probe allow-list"
    if t.address == LOOPBACK or not _is_local_address(t.address):
        return "the target's loopback is in a network namespace the worker does not share; " + LISTEN_NOT_ALLOWED
    base = _base(t, "listen")
    base["address"] = LOOPBACK
    start = time.monotonic()
    try:
        sock = socket.create_connection((LOOPBACK, t.port), timeout=t.timeout_s)
    except Exception as exc:  # noqa: BLE001
        # nothing on loopback either: the port is closed, not localhost-only
        return ProbeResult(ok=True, elapsed_ms=_ms(start), error=f"{LOOPBACK}:{t.port} also: {_error_text(exc, t.timeout_s)}", **base)
    sock.close()
    return ProbeResult(
        ok=False,
        elapsed_ms=_ms(start),
        error=f"answers on {LOOPBACK}:{t.port} but refuses {t.address}:{t.port}: listening on localhost only",
        **base,
    )


# ---- the collector ---------------------------------------------------------------------------


def _endpoints_text(endpoints: list[tuple[str, int]], limit: int = 10) -> str:
    shown = ", ".join(f"{a}:{p}" for a, p in endpoints[:limit])
    return shown + (f" and {len(endpoints) - limit} more" if len(endpoints) > limit else "")


def run_probes(state: State, *, max_targets: int | None = None, concurrency: int | None = None) -> None:
    """Probe every target of every load-balancer health check; results go to state.probes.

    state.probes holds only requests really sent. Targets not probed are summarised in
    state.skipped_reads under "probe.cap" (over the cap), "probe.allow" (outside the allow-list)
    and "probe.listen" (a refused target whose loopback could not be probed).
    """
    if state.options.get("offline"):
        state.skipped_reads["probe"] = "offline dump: probes need the live network"
        return
    if not state.options.get("probe"):
        state.skipped_reads["probe"] = "--no-probe given"
        return
    try:
        allow = allow_list(state)
    except (ValueError, TypeError) as exc:
        state.skipped_reads["probe"] = f"{ALLOW_ENV} / probe_allow is not a CIDR list ({exc}); nothing probed"
        return
    try:
        targets, notes = plan(state)
    except Exception as exc:  # noqa: BLE001 - odd objects must not take the diagnosis down
        state.read_errors["probe"] = f"could not work out the targets to probe ({type(exc).__name__}: {exc}); nothing probed"
        return
    if not targets:
        state.skipped_reads["probe"] = "no load-balancer health-check target to probe" + (f" ({'; '.join(notes)})" if notes else "")
        return
    cap = int(max_targets or state.options.get("probe_max_targets") or MAX_TARGETS)
    workers = int(concurrency or state.options.get("probe_concurrency") or CONCURRENCY)

    endpoints: list[tuple[str, int]] = []
    for t in targets:
        if t.endpoint not in endpoints:
            endpoints.append(t.endpoint)
    chosen = set(endpoints[:cap])
    over_cap = endpoints[cap:]
    outside: list[tuple[str, int]] = []

    jobs: list[tuple[str, ProbeTarget]] = []
    first_of_endpoint: dict[tuple[str, int], ProbeTarget] = {}
    for t in targets:
        if t.endpoint not in chosen:
            continue
        if not allowed(t.address, allow):
            if t.endpoint not in outside:
                outside.append(t.endpoint)
            continue
        if t.endpoint not in first_of_endpoint:
            first_of_endpoint[t.endpoint] = t
            jobs.append(("tcp", t))
        if t.is_http:
            jobs.append(("http", t))

    def run(job: tuple[str, ProbeTarget]) -> ProbeResult:
        kind, t = job
        return probe_http(t) if kind == "http" else probe_tcp(t)

    done: list[ProbeResult] = []
    if jobs:
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(jobs))), thread_name_prefix="lbhealth-probe") as pool:
            done = list(pool.map(run, jobs))
    state.api_calls["probe"] += len(jobs)

    # a refused endpoint: is it listening on localhost only?
    listen_allowed = bool(state.options.get("listen_probe"))
    listen: list[ProbeResult] = []
    listen_skipped: dict[str, list[tuple[str, int]]] = {}
    for r in done:
        if r.kind == "tcp" and r.error == "connection refused":
            got = probe_listen(first_of_endpoint[(r.address, r.port)], allow, listen_allowed)
            if isinstance(got, ProbeResult):
                listen.append(got)
            else:
                listen_skipped.setdefault(got, []).append((r.address, r.port))

    state.probes.extend(done + listen)
    state.reads_done.add("probe")
    state.skipped_reads.pop("probe", None)
    if over_cap:
        state.skipped_reads[SKIP_CAP] = (f"probed {len(chosen)} of {len(endpoints)} targets (cap {cap}); "
                                         f"not probed: {_endpoints_text(over_cap)}")
    if outside:
        state.skipped_reads[SKIP_ALLOW] = (f"{len(outside)} target(s) outside the probe allow-list ({_allow_text(allow)}) "
                                           f"not probed: {_endpoints_text(outside)}")
    if listen_skipped:
        state.skipped_reads[SKIP_LISTEN] = "; ".join(
            f"{why} (refused: {_endpoints_text(eps)})" for why, eps in listen_skipped.items()
        )


def _allow_text(allow: list[Any] | None) -> str:
    return ", ".join(str(n) for n in allow or [])


# ---- netstat / ss output ---------------------------------------------------------------------

_NETSTAT = re.compile(r"^(tcp6?|udp6?)\s+\d+\s+\d+\s+(\S+)\s+(\S+)(?:\s+(\S+))?(?:\s+(.*))?$")
_SS_NETID = re.compile(r"^(tcp|udp)\s+(LISTEN|UNCONN|ESTAB\S*)\s+\d+\s+\d+\s+(\S+)\s+(\S+)(?:\s+(.*))?$")
_SS = re.compile(r"^(LISTEN|UNCONN|ESTAB\S*)\s+\d+\s+\d+\s+(\S+)\s+(\S+)(?:\s+(.*))?$")
_PROCESS = re.compile(r'users:\(\("([^"]+)"|^\d+/([^\s:]+)')


def _split_addr(text: str) -> tuple[str, int] | None:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        return None
    host = host.strip("[]").split("%", 1)[0]
    if host in ("*", ""):
        host = "0.0.0.0"
    return host, int(port)


def _process(text: str | None) -> str:
    m = _PROCESS.search((text or "").strip())
    return (m.group(1) or m.group(2)) if m else ""


def parse_listen(text: str) -> list[dict[str, Any]]:
    """TCP listening sockets from `netstat -anltu(p)` or `ss -lnt(up)` output.

    Returns [{"proto": "tcp"|"tcp6", "address": "127.0.0.1", "port": 80, "process": "nginx"}].
    Copes with lines wrapped after the foreign address (as pasted into tickets and the seed).
    """
    lines: list[str] = []
    for raw in (text or "").splitlines():
        line = raw.strip()
        if not line:
            continue
        ss_line = re.match(r"^(LISTEN|UNCONN|ESTAB)\S*\s+\d+\s+\d+\s", line)
        if lines and not ss_line and line.startswith(("LISTEN", "users:(")):
            lines[-1] += " " + line  # a wrapped netstat/ss line
            continue
        lines.append(line)
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str, int]] = set()
    for line in lines:
        entry: tuple[str, str, str] | None = None  # proto, local, process
        m = _NETSTAT.match(line)
        if m and m.group(1).startswith("tcp") and (m.group(4) or "").upper() == "LISTEN":
            entry = (m.group(1), m.group(2), m.group(5) or "")
        elif (m := _SS_NETID.match(line)) and m.group(1) == "tcp" and m.group(2) == "LISTEN":
            entry = ("tcp", m.group(3), m.group(5) or "")
        elif (m := _SS.match(line)) and m.group(1) == "LISTEN":
            entry = ("tcp", m.group(2), m.group(4) or "")
        if not entry:
            continue
        addr = _split_addr(entry[1])
        if not addr:
            continue
        proto = "tcp6" if ":" in addr[0] else entry[0]
        key = (proto, addr[0], addr[1])
        if key in seen:
            continue
        seen.add(key)
        out.append({"proto": proto, "address": addr[0], "port": addr[1], "process": _process(entry[2])})
    return out


def looks_like_listen_output(text: str) -> bool:
    """Does the text look like netstat/ss output (a header, or lines only those tools print)?"""
    head = "\n".join((text or "").splitlines()[:5])
    if re.search(r"^(Proto\s+Recv-Q|State\s+Recv-Q|Netid\s+State|Active Internet connections)", head, re.M):
        return True
    return bool(parse_listen(text)) and all(
        _NETSTAT.match(ln.strip()) or _SS.match(ln.strip()) or _SS_NETID.match(ln.strip()) or ln.strip().startswith(("LISTEN", "users:("))
        for ln in (text or "").splitlines()
        if ln.strip()
    )


def facts_from_text(text: str) -> dict[str, Any] | None:
    """Node facts from sysctl / iptables-save / netstat / ss output (see checks.collect.node.facts_from_text)."""
    from checks.collect.node import facts_from_text as _facts_from_text  # late: node.py imports this module

    return _facts_from_text(text)
