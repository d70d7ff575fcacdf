"""Real redis-server processes on loopback for Redis-as-a-service tests: a primary with a replica
watched by a Sentinel (`redis-server --sentinel`), and a TLS-only server with an ACL user.
Every process listens on a free 127.0.0.1 port in its own temporary directory."""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from tests.fakes.redis_server import free_port

MASTER = "lbhealth"


def _binary() -> str:
    binary = shutil.which("redis-server")
    if not binary:
        raise RuntimeError("redis-server is not installed: run scripts/test.sh, which installs it")
    return binary


def _wait_port(port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server on port {port} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"redis-server on port {port} did not start within 10 s")


class Node:
    """One redis-server (or Sentinel) process started from a config file."""

    def __init__(self, directory: Path, name: str, config: str, *, sentinel: bool = False, tls_port: int | None = None) -> None:
        self.port = tls_port or free_port()
        self.dir = directory / name
        self.dir.mkdir()
        conf = self.dir / "redis.conf"
        plain = 0 if tls_port else self.port  # a TLS-only server has plain TCP off
        conf.write_text(f"port {plain}\nbind 127.0.0.1\ndir {self.dir}\nsave \"\"\n{config}")
        args = [_binary(), str(conf)] + (["--sentinel"] if sentinel else [])
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(self.port, self.proc)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)


class SentinelCluster:
    """A primary, one replica and one Sentinel (quorum 1) that fails over 1 s after the primary dies.

    tls: every process listens on TLS only (plain TCP off), replicates and is watched over TLS, with
    one self-signed certificate for 127.0.0.1 that is also the CA (`self.ca`)."""

    def __init__(self, password: str = "s3cret-pass", *, tls: bool = False) -> None:
        self.password = password
        self.dir = Path(tempfile.mkdtemp(prefix="lbhealth-sentinel-"))
        self.ca: Path | None = None
        tls_conf = ""
        if tls:
            self.ca, key = self_signed(self.dir)
            tls_conf = (f"tls-cert-file {self.ca}\ntls-key-file {key}\ntls-ca-cert-file {self.ca}\n"
                        "tls-auth-clients no\ntls-replication yes\n")
        auth = f"requirepass {password}\nmasterauth {password}\n"
        self.primary = self._node("primary", auth + tls_conf + "appendonly no\n", tls)
        self.replica = self._node("replica", auth + tls_conf + f"replicaof 127.0.0.1 {self.primary.port}\nreplica-priority 100\n", tls)
        self.sentinel = self._node(
            "sentinel",
            tls_conf
            + f"sentinel monitor {MASTER} 127.0.0.1 {self.primary.port} 1\n"
            f"sentinel auth-pass {MASTER} {password}\n"
            f"sentinel down-after-milliseconds {MASTER} 1000\n"
            f"sentinel failover-timeout {MASTER} 5000\n",
            tls,
            sentinel=True,
        )
        self._wait(lambda: self._replica_synced(), "the replica to sync")
        self._wait(lambda: self.sentinel_client().sentinel_master(MASTER).get("num-slaves", 0) >= 1, "the Sentinel to see the replica")

    def _node(self, name: str, config: str, tls: bool, *, sentinel: bool = False) -> Node:
        port = free_port() if tls else None
        return Node(self.dir, name, (f"tls-port {port}\n" if tls else "") + config, sentinel=sentinel, tls_port=port)

    @property
    def tls(self) -> dict[str, object]:
        """redis-py keyword arguments for a TLS connection to any of the processes."""
        return {"ssl": True, "ssl_ca_certs": str(self.ca)} if self.ca else {}

    @property
    def sentinels(self) -> str:
        return f"127.0.0.1:{self.sentinel.port}"

    def sentinel_client(self) -> redis.Redis:
        return redis.Redis("127.0.0.1", self.sentinel.port, socket_timeout=1, decode_responses=True, **self.tls)

    def primary_port(self) -> int:
        _, port = self.sentinel_client().sentinel_get_master_addr_by_name(MASTER)
        return int(port)

    def _replica_synced(self) -> bool:
        info = redis.Redis("127.0.0.1", self.replica.port, password=self.password, socket_timeout=1, **self.tls).info("replication")
        return info.get("master_link_status") == "up"

    @staticmethod
    def _wait(predicate, what: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if predicate():
                    return
            except redis.RedisError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"waited {timeout:g} s for {what}")

    def kill_primary_and_wait_for_failover(self) -> None:
        """SIGKILL the primary, then wait until the Sentinel names the replica primary."""
        self.primary.kill()
        self._wait(lambda: self.primary_port() == self.replica.port, "the Sentinel to promote the replica")

    def stop(self) -> None:
        for node in (self.sentinel, self.replica, self.primary):
            node.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key (PEM), made with `cryptography`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "redis.crt", directory / "redis.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_path, key_path


class TlsRedis:
    """A redis-server that only speaks TLS, with an ACL user `lbhealth` and the default user disabled."""

    def __init__(self, password: str = "acl-pass") -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="lbhealth-tls-"))
        self.cert, key = self_signed(self.dir)
        self.password = password
        self.port = free_port()
        self.node = Node(
            self.dir,
            "tls",
            f"tls-port {self.port}\ntls-cert-file {self.cert}\ntls-key-file {key}\ntls-ca-cert-file {self.cert}\n"
            "tls-auth-clients no\n"
            f"user default off\nuser lbhealth on >{password} ~* &* +@all\n",
            tls_port=self.port,
        )

    @property
    def url(self) -> str:
        return f"rediss://lbhealth@127.0.0.1:{self.port}/0?ssl_ca_certs={self.cert}"

    def stop(self) -> None:
        self.node.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
