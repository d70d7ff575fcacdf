"""The probe collector against real local servers on 127.0.0.0/8 (never anything else).

Servers: HTTP answering 200 / 302 / 404 by path (recording method, path and Host), a TCP
listener that accepts and never answers (hang), and a closed port (refuse).
"""

from __future__ import annotations

import datetime
import http.server
import socket
import ssl
import threading
from typing import Any

import pytest

from checks.collect import probe as probe_mod
from checks.collect.probe import LISTEN_NOT_ALLOWED, parse_listen, run_probes
from checks.probe._targets import ProbeTarget, curl_command, plan
from tests import factories as f

LOOP = "127.0.0.0/8"


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    """Belt and braces: every probe in this module is restricted to loopback."""
    monkeypatch.setenv("LBHEALTH_PROBE_ALLOW", LOOP)


# ---- servers ---------------------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self, body: bool) -> None:
        self.server.seen.append({"method": self.command, "path": self.path, "host": self.headers.get("Host")})  # type: ignore[attr-defined]
        path = self.path.split("?", 1)[0]
        if path in ("/ok", "/healthz", "/"):
            code, headers = 200, {}
        elif path == "/redirect":
            code, headers = 302, {"Location": "/ok"}
        else:
            code, headers = 404, {}
        payload = f"{code}\n".encode()
        self.send_response(code)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if body:
            self.wfile.write(payload)

    def do_GET(self) -> None:  # noqa: N802
        self._answer(True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(False)

    def log_message(self, *args: Any) -> None:
        pass


class HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None):
        super().__init__((host, 0), _Handler)
        self.seen: list[dict[str, Any]] = []
        if tls:
            self.socket = tls.wrap_socket(self.socket, server_side=True)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class HangServer:
    """Accepts connections and never answers; counts how many client connections are open at once.

    On loopback a client's FIN for its previous connection is delivered before the SYN of its
    next one, so at each accept a non-blocking peek tells exactly which earlier connections the
    client has already closed.
    """

    lock = threading.Lock()

    def __init__(self, shared: dict[str, Any] | None = None):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.shared = shared if shared is not None else {}
        self.shared.setdefault("max", 0)
        self.shared.setdefault("accepted", 0)
        self.shared.setdefault("conns", [])
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    @staticmethod
    def _open(conn: socket.socket) -> bool:
        """Drain what the client sent (a request never answered); EOF means it closed."""
        try:
            while True:
                if conn.recv(65536, socket.MSG_DONTWAIT) == b"":
                    return False
        except BlockingIOError:
            return True
        except OSError:
            return False

    def _accept(self) -> None:
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                conns = self.shared["conns"]
                open_now = 1 + sum(1 for c in conns if self._open(c))
                conns.append(conn)
                self.shared["accepted"] += 1
                self.shared["max"] = max(self.shared["max"], open_now)

    def stop(self) -> None:
        self.stopped = True
        self.sock.close()
        with self.lock:
            for c in self.shared["conns"]:
                c.close()
            self.shared["conns"].clear()


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def http_server():
    server = HTTPServer()
    yield server
    server.stop()


@pytest.fixture
def hang_server():
    server = HangServer()
    yield server
    server.stop()


# ---- state builders --------------------------------------------------------------------------


def aws_ip_state(port: int, *, path: str = "/ok", codes: str = "200", timeout: float = 0.5, pod_ips=("127.0.0.1",),
                 protocol: str = "HTTP", target_port: int | None = None, **options: Any):
    tp = target_port if target_port is not None else port
    svc = f.service(selector={"app": "web"}, ports=[{"name": "http", "port": 80, "targetPort": tp, "protocol": "TCP", "nodePort": 30080}])
    pods = [f.pod(f"web-{i}", ip=ip, containers=[f.container(ports=[{"name": "http", "containerPort": tp, "protocol": "TCP"}])])
            for i, ip in enumerate(pod_ips, 1)]
    state = f.make_state(svc, *pods, probe=True, **options)
    state.aws.target_groups = [{
        "TargetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/k8s-shop-web/abc",
        "TargetGroupName": "k8s-shop-web", "TargetType": "ip", "Protocol": "HTTP", "Port": tp,
        "HealthCheckProtocol": protocol, "HealthCheckPort": "traffic-port", "HealthCheckPath": path,
        "HealthCheckTimeoutSeconds": timeout, "HealthCheckIntervalSeconds": 10, "Matcher": {"HttpCode": codes},
    }]
    return state


def by_kind(state, kind: str):
    return [r for r in state.probes if r.kind == kind]


# ---- HTTP ------------------------------------------------------------------------------------


def test_200_is_ok_with_status_and_elapsed(http_server):
    state = aws_ip_state(http_server.port, path="/ok")
    run_probes(state)
    [r] = by_kind(state, "http")
    assert r.ok and r.status_code == 200 and r.error == ""
    assert r.address == "127.0.0.1" and r.port == http_server.port and r.path == "/ok"
    assert r.subject == "pod shop/web-1" and r.expected == "200" and r.elapsed_ms >= 0
    assert http_server.seen[0]["method"] == "GET"
    [t] = by_kind(state, "tcp")
    assert t.ok
    assert "probe" in state.reads_done and "probe" not in state.skipped_reads


def test_404_is_a_mismatch(http_server):
    state = aws_ip_state(http_server.port, path="/healthz-missing", codes="200-399")
    run_probes(state)
    [r] = by_kind(state, "http")
    assert not r.ok and r.status_code == 404
    assert "404 not in 200-399" in r.error


def test_302_is_not_followed(http_server):
    state = aws_ip_state(http_server.port, path="/redirect", codes="200")
    run_probes(state)
    [r] = by_kind(state, "http")
    assert r.status_code == 302 and not r.ok
    assert "redirect to /ok" in r.error
    assert [s["path"] for s in http_server.seen] == ["/redirect"]  # /ok never requested


def test_302_accepted_when_matcher_allows(http_server):
    state = aws_ip_state(http_server.port, path="/redirect", codes="200-399")
    run_probes(state)
    [r] = by_kind(state, "http")
    assert r.ok and r.status_code == 302


def test_hanging_target_times_out(hang_server):
    state = aws_ip_state(hang_server.port, path="/ok", timeout=0.3)
    run_probes(state)
    [r] = by_kind(state, "http")
    assert not r.ok and r.status_code is None
    assert r.error == "timeout after 0.3s"
    [t] = by_kind(state, "tcp")
    assert t.ok  # it does accept the connection


def test_closed_port_is_refused():
    port = closed_port()
    state = aws_ip_state(port, path="/ok", timeout=0.3)
    run_probes(state)
    [r] = by_kind(state, "http")
    assert not r.ok and r.error == "connection refused"
    [t] = by_kind(state, "tcp")
    assert not t.ok and t.error == "connection refused"


def test_tcp_health_check_connects_only(http_server):
    state = aws_ip_state(http_server.port, protocol="TCP")
    run_probes(state)
    assert by_kind(state, "http") == []
    [t] = by_kind(state, "tcp")
    assert t.ok
    assert http_server.seen == []  # nothing sent: connect and close


def _tencent_state(port: int, *, domain: str = "shop.example.com", method: str | None = "GET", path: str = "/ok", mask: int = 2):
    svc = f.service(selector={"app": "web"}, ports=[{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP", "nodePort": 30080}],
                    annotations={"service.cloud.tencent.com/direct-access": "true"})
    pod = f.pod("web-1", ip="127.0.0.1", containers=[f.container(ports=[{"name": "http", "containerPort": port, "protocol": "TCP"}])])
    state = f.make_state(svc, pod, probe=True)
    hc: dict[str, Any] = {"HealthSwitch": 1, "CheckType": "HTTP", "HttpCheckPath": path, "HttpCheckDomain": domain,
                          "HttpCode": mask, "TimeOut": 2, "IntervalTime": 5, "SourceIpType": 1}
    if method:
        hc["HttpCheckMethod"] = method
    state.tencent.load_balancers = [{"LoadBalancerId": "lb-1", "LoadBalancerVips": ["127.0.0.9"]}]
    state.tencent.listeners = {"lb-1": [{"ListenerId": "lbl-1", "Protocol": "TCP", "Port": 80, "HealthCheck": hc}]}
    return state


def test_clb_host_header_named_port_and_httpcode_classes(http_server):
    state = _tencent_state(http_server.port)
    run_probes(state)
    [r] = by_kind(state, "http")
    assert r.port == http_server.port  # targetPort "http" resolved against the container's named port
    assert http_server.seen[0]["host"] == "shop.example.com" and r.host_header == "shop.example.com"
    assert r.ok and r.expected == "200-299"


def test_clb_default_method_is_head(http_server):
    state = _tencent_state(http_server.port, method=None, path="/missing", mask=2 | 8)
    run_probes(state)
    [r] = by_kind(state, "http")
    assert http_server.seen[0]["method"] == "HEAD"
    assert r.status_code == 404 and r.ok  # 4xx accepted by the HttpCode mask


def test_instance_targets_probe_node_ip_nodeport(http_server):
    svc = f.service(ports=[{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP", "nodePort": http_server.port}],
                    annotations={"service.beta.kubernetes.io/aws-load-balancer-healthcheck-protocol": "HTTP",
                                 "service.beta.kubernetes.io/aws-load-balancer-healthcheck-path": "/healthz"})
    node = f.node("node-1", internal_ip="127.0.0.1")
    state = f.make_state(svc, node, f.pod("web-1", labels={"app": "web"}), probe=True)
    run_probes(state)
    [r] = by_kind(state, "http")
    assert (r.subject, r.address, r.port, r.path, r.status_code) == ("node node-1", "127.0.0.1", http_server.port, "/healthz", 200)


def test_external_traffic_local_probes_health_check_node_port(http_server):
    svc = f.service(ports=[{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP", "nodePort": 30080}],
                    external_traffic_policy="Local", healthCheckNodePort=http_server.port,
                    annotations={"service.beta.kubernetes.io/aws-load-balancer-type": "external"})
    state = f.make_state(svc, f.node("node-1", internal_ip="127.0.0.1"), probe=True)
    run_probes(state)
    [r] = by_kind(state, "http")
    assert r.port == http_server.port and r.path == "/healthz" and r.ok


def test_https_without_verification():
    cryptography = pytest.importorskip("cryptography")
    assert cryptography
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "self-signed.invalid")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    import pathlib
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        (cp, kp) = (pathlib.Path(d, "c.pem"), pathlib.Path(d, "k.pem"))
        cp.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        kp.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cp, kp)
        server = HTTPServer(tls=ctx)
    try:
        state = aws_ip_state(server.port, path="/ok", protocol="HTTPS", timeout=2)
        run_probes(state)
        [r] = by_kind(state, "http")
        assert r.ok and r.status_code == 200
    finally:
        server.stop()


def test_proxy_environment_is_ignored(http_server, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    state = aws_ip_state(http_server.port)
    run_probes(state)
    assert by_kind(state, "http")[0].status_code == 200


# ---- concurrency and cap ---------------------------------------------------------------------


def _hang_state(servers, concurrency=None, **options):
    ports = [{"name": f"p{i}", "port": 8000 + i, "targetPort": s.port, "protocol": "TCP"} for i, s in enumerate(servers)]
    svc = f.service(ports=ports, annotations={"service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
                                              "service.beta.kubernetes.io/aws-load-balancer-healthcheck-protocol": "HTTP",
                                              "service.beta.kubernetes.io/aws-load-balancer-healthcheck-timeout": "1"})
    state = f.make_state(svc, f.pod("web-1", ip="127.0.0.1"), probe=True, **options)
    if concurrency:
        state.options["probe_concurrency"] = concurrency
    state.aws.target_groups = []
    return state


def test_probes_run_concurrently():
    shared: dict[str, Any] = {}
    servers = [HangServer(shared) for _ in range(6)]
    try:
        state = _hang_state(servers)
        run_probes(state)  # six HTTP requests nobody answers: each connection stays open until its client gives up
        assert shared["accepted"] == 12  # a TCP connect and an HTTP request per target
        assert shared["max"] >= 2, shared
        assert all(r.ok for r in by_kind(state, "tcp"))
        assert [r.error for r in by_kind(state, "http")] == ["timeout after 1s"] * 6
    finally:
        for s in servers:
            s.stop()


def test_concurrency_is_bounded():
    shared: dict[str, Any] = {}
    servers = [HangServer(shared) for _ in range(2)]
    try:
        state = _hang_state(servers, concurrency=1)
        run_probes(state)
        assert shared["accepted"] == 4 and shared["max"] == 1, shared
    finally:
        for s in servers:
            s.stop()


def test_cap_on_targets_is_recorded():
    ports = [closed_port() for _ in range(3)]
    svc = f.service(ports=[{"name": f"p{i}", "port": 8000 + i, "targetPort": p, "protocol": "TCP"} for i, p in enumerate(ports)],
                    annotations={"service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip"})
    state = f.make_state(svc, f.pod("web-1", ip="127.0.0.1"), probe=True, probe_max_targets=2)
    run_probes(state)
    assert len(by_kind(state, "tcp")) == 2
    assert state.skipped_reads["probe.cap"] == f"probed 2 of 3 targets (cap 2); not probed: 127.0.0.1:{ports[2]}"


# ---- allow-list guard ------------------------------------------------------------------------


def _spy_connections(monkeypatch) -> list[Any]:
    calls: list[Any] = []

    def spy(*args: Any, **kwargs: Any):
        calls.append(args)
        raise AssertionError("a connection was attempted")

    monkeypatch.setattr(socket, "create_connection", spy)
    return calls


@pytest.mark.parametrize("via", ["env", "option"])
def test_allow_list_refuses_non_loopback_without_sending(monkeypatch, via):
    calls = _spy_connections(monkeypatch)
    if via == "option":
        monkeypatch.delenv("LBHEALTH_PROBE_ALLOW", raising=False)
    state = aws_ip_state(8080, pod_ips=("192.0.2.1",), listen_probe=True)  # TEST-NET-1: data only, never contacted
    if via == "option":
        state.options["probe_allow"] = ["127.0.0.0/8"]
    run_probes(state)
    assert calls == [] and state.probes == []
    assert state.skipped_reads["probe.allow"] == "1 target(s) outside the probe allow-list (127.0.0.0/8) not probed: 192.0.2.1:8080"
    assert "probe" in state.reads_done


def test_allow_list_mixed_targets_only_probes_allowed(monkeypatch, http_server):
    state = aws_ip_state(http_server.port, pod_ips=("127.0.0.1", "192.0.2.7"))
    real = socket.create_connection
    seen: list[Any] = []

    def guard(address, *a, **k):
        seen.append(address[0])
        assert address[0].startswith("127."), address
        return real(address, *a, **k)

    monkeypatch.setattr(socket, "create_connection", guard)
    run_probes(state)
    assert set(seen) == {"127.0.0.1"}
    assert {r.address for r in state.probes} == {"127.0.0.1"}
    assert "192.0.2.7:" in state.skipped_reads["probe.allow"]


def test_under_pytest_the_default_allow_list_is_loopback(monkeypatch):
    calls = _spy_connections(monkeypatch)
    monkeypatch.delenv("LBHEALTH_PROBE_ALLOW", raising=False)
    state = aws_ip_state(8080, pod_ips=("192.0.2.9",))
    run_probes(state)
    assert calls == [] and "127.0.0.0/8" in state.skipped_reads["probe.allow"]


def test_bad_allow_list_probes_nothing(monkeypatch):
    calls = _spy_connections(monkeypatch)
    monkeypatch.setenv("LBHEALTH_PROBE_ALLOW", "not-a-cidr")
    state = aws_ip_state(8080)
    run_probes(state)
    assert calls == [] and state.probes == []
    assert "not a CIDR list" in state.skipped_reads["probe"]


# ---- skipped reads ---------------------------------------------------------------------------


def test_no_probe_and_offline_are_recorded(monkeypatch):
    calls = _spy_connections(monkeypatch)
    s1 = aws_ip_state(8080)
    s1.options["probe"] = False
    run_probes(s1)
    assert s1.skipped_reads["probe"] == "--no-probe given" and s1.probes == []
    s2 = aws_ip_state(8080)
    s2.options.update(offline=True, probe=False)
    run_probes(s2)
    assert s2.skipped_reads["probe"] == "offline dump: probes need the live network"
    assert calls == []


def test_nothing_to_probe_is_recorded():
    state = f.make_state(f.service(type="ClusterIP"), probe=True)
    run_probes(state)
    assert state.probes == [] and "no load-balancer health-check target" in state.skipped_reads["probe"]


# ---- PROBE-LISTEN live -----------------------------------------------------------------------


@pytest.fixture
def loopback_only_server():
    """An HTTP server bound to 127.0.0.1 only; a 'pod' at 127.0.0.3 reaches the same port and is refused."""
    server = HTTPServer("127.0.0.1")
    yield server
    server.stop()


def test_listen_probe_finds_localhost_only(loopback_only_server):
    state = aws_ip_state(loopback_only_server.port, pod_ips=("127.0.0.3",), timeout=0.5, listen_probe=True)
    run_probes(state)
    assert by_kind(state, "tcp")[0].error == "connection refused"
    [listen] = by_kind(state, "listen")
    assert not listen.ok and listen.address == "127.0.0.1"
    assert "listening on localhost only" in listen.error


def test_listen_probe_not_allowed_is_skipped(loopback_only_server):
    state = aws_ip_state(loopback_only_server.port, pod_ips=("127.0.0.3",), timeout=0.5)
    run_probes(state)
    assert by_kind(state, "listen") == []
    assert state.skipped_reads["probe.listen"] == f"{LISTEN_NOT_ALLOWED} (refused: 127.0.0.3:{loopback_only_server.port})"


def test_listen_probe_closed_everywhere_is_not_localhost_only():
    state = aws_ip_state(closed_port(), pod_ips=("127.0.0.3",), timeout=0.5, listen_probe=True)
    run_probes(state)
    [listen] = by_kind(state, "listen")
    assert listen.ok and "also: connection refused" in listen.error


def test_listen_probe_foreign_namespace_is_skipped(monkeypatch, loopback_only_server):
    monkeypatch.setattr(probe_mod, "_is_local_address", lambda address: False)
    state = aws_ip_state(loopback_only_server.port, pod_ips=("127.0.0.3",), timeout=0.5, listen_probe=True)
    run_probes(state)
    assert by_kind(state, "listen") == []
    assert "network namespace the worker does not share" in state.skipped_reads["probe.listen"]


# ---- plan and curl ---------------------------------------------------------------------------


def test_plan_uses_numeric_health_check_port_and_skips_udp():
    svc = f.service(ports=[{"name": "http", "port": 80, "targetPort": 80, "protocol": "TCP", "nodePort": 30080}])
    state = f.make_state(svc, f.pod("web-1", ip="127.0.0.2"), f.node("node-1"))
    state.aws.target_groups = [
        {"TargetGroupArn": "arn:aws:x:tg/a", "TargetType": "ip", "HealthCheckProtocol": "HTTP", "HealthCheckPort": "8081",
         "HealthCheckPath": "/ready", "Port": 80, "Matcher": {"HttpCode": "200"}},
        {"TargetGroupArn": "arn:aws:x:tg/b", "TargetType": "ip", "HealthCheckProtocol": "UDP", "HealthCheckPort": "traffic-port", "Port": 80},
    ]
    targets, notes = plan(state)
    assert [(t.address, t.port, t.path) for t in targets] == [("127.0.0.2", 8081, "/ready")]
    assert any("UDP" in n for n in notes)


def test_curl_command_is_exact():
    t = ProbeTarget(subject="pod shop/web-1", address="127.0.0.7", port=8080, protocol="HTTP", path="/healthz",
                    host="shop.example.com", timeout_s=5)
    assert curl_command(t) == "curl -sS -o /dev/null -w '%{http_code}' -H 'Host: shop.example.com' --max-time 5 http://127.0.0.7:8080/healthz"
    t2 = ProbeTarget(subject="n", address="127.0.0.7", port=443, protocol="HTTPS", path="/", method="HEAD", timeout_s=2)
    assert curl_command(t2) == "curl -sS -o /dev/null -w '%{http_code}' -k -I --max-time 2 https://127.0.0.7:443/"


# ---- netstat / ss parser ---------------------------------------------------------------------

NETSTAT = """\
Active Internet connections (servers and established)
Proto Recv-Q Send-Q Local Address           Foreign Address         State       PID/Program name
tcp        0      0 0.0.0.0:80              0.0.0.0:*               LISTEN      9/nginx: master pro
tcp        0      0 127.0.0.1:8080          0.0.0.0:*               LISTEN      12/python3
tcp        0      0 127.0.0.5:22            127.0.0.9:51234          ESTABLISHED -
tcp6       0      0 :::80                   :::*                    LISTEN      9/nginx: master pro
udp        0      0 0.0.0.0:68              0.0.0.0:*                           -
"""

SEED_WRAPPED = """\
tcp 0 0 0.0.0.0:80 0.0.0.0:*
LISTEN 9/nginx: master pro
tcp6 0 0 :::80 :::*
LISTEN 9/nginx: master pro
"""

SS = """\
State  Recv-Q Send-Q Local Address:Port  Peer Address:Port Process
LISTEN 0      511    127.0.0.1:80        0.0.0.0:*     users:(("nginx",pid=9,fd=6))
LISTEN 0      4096   127.0.0.53%lo:53    0.0.0.0:*
LISTEN 0      511    [::1]:80            [::]:*        users:(("nginx",pid=9,fd=8))
"""

SS_NETID = """\
tcp LISTEN 0 511 *:80 *:*
users:(("nginx",pid=9,fd=6))
tcp LISTEN 0 511 [::]:80 [::]:*
users:(("nginx",pid=9,fd=8))
"""


def test_parse_netstat():
    got = parse_listen(NETSTAT)
    assert got == [
        {"proto": "tcp", "address": "0.0.0.0", "port": 80, "process": "nginx"},
        {"proto": "tcp", "address": "127.0.0.1", "port": 8080, "process": "python3"},
        {"proto": "tcp6", "address": "::", "port": 80, "process": "nginx"},
    ]


def test_parse_wrapped_seed_output():
    assert [(e["address"], e["port"]) for e in parse_listen(SEED_WRAPPED)] == [("0.0.0.0", 80), ("::", 80)]


def test_parse_ss():
    assert [(e["address"], e["port"], e["process"]) for e in parse_listen(SS)] == [
        ("127.0.0.1", 80, "nginx"), ("127.0.0.53", 53, ""), ("::1", 80, "nginx")]
    assert [(e["address"], e["port"]) for e in parse_listen(SS_NETID)] == [("0.0.0.0", 80), ("::", 80)]


def test_parse_listen_odd_input():
    assert parse_listen("") == [] and parse_listen("garbage\n\x00\n") == []
    assert parse_listen("tcp 0 0 nonsense LISTEN") == []


def test_path_with_space_is_encoded_and_still_judged(http_server):
    state = aws_ip_state(http_server.port, path="/health check", codes="200")
    run_probes(state)
    [r] = by_kind(state, "http")
    assert http_server.seen[0]["path"] == "/health%20check"
    assert r.status_code == 404 and not r.ok


# ---- from the wire to the findings -----------------------------------------------------------


def test_collected_404_makes_probe_http_fail_with_the_exact_curl(http_server):
    from checks.model import Status

    state = aws_ip_state(http_server.port, path="/missing", codes="200", timeout=2)
    run_probes(state)
    [fd] = f.run_check("PROBE-HTTP", state)
    assert fd.status == Status.FAIL and fd.cause == "healthcheck-path"
    assert f"curl -sS -o /dev/null -w '%{{http_code}}' --max-time 2 http://127.0.0.1:{http_server.port}/missing" in fd.next_step
    [tcp] = f.run_check("PROBE-TCP", state)
    assert tcp.status == Status.PASS


def test_collected_localhost_listener_makes_probe_listen_fail(loopback_only_server):
    from checks.model import Status

    # a refused connection answers at once: the API's integer timeout costs nothing here
    state = aws_ip_state(loopback_only_server.port, pod_ips=("127.0.0.3",), timeout=2, listen_probe=True)
    run_probes(state)
    [fd] = f.run_check("PROBE-LISTEN", state)
    assert fd.status == Status.FAIL and fd.cause == "listen-localhost"
    [http_fd] = f.run_check("PROBE-HTTP", state)
    assert http_fd.status == Status.FAIL and "listen-localhost" in http_fd.supports


def test_connection_closed_without_answer():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    port = sock.getsockname()[1]

    def serve():
        for _ in range(2):  # the TCP connect (closes at once), then the HTTP request
            try:
                conn, _addr = sock.accept()
            except OSError:
                return
            conn.recv(4096)  # the request, or b"" from the bare connect
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    try:
        state = aws_ip_state(port, timeout=2)
        run_probes(state, concurrency=1)
        [r] = by_kind(state, "http")
        assert not r.ok and r.status_code is None
        assert r.error in ("connection closed without a response", "connection reset by peer")
    finally:
        sock.close()
