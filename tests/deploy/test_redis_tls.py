"""External Redis over TLS behind TLS Sentinels, as the chart configures it: the environment of the
rendered worker (its Secrets resolved, its CA file at the path the chart mounts it) is read by the
real Settings and connects bot.redis_ha to real TLS-only redis-server processes on loopback."""

from __future__ import annotations

import pytest
import redis
from redis.connection import SSLConnection
from redis.sentinel import SentinelManagedSSLConnection

from bot.redis_ha import connect
from bot.settings import Settings
from tests.deploy.chart import container_env, env_of, named, render
from tests.fakes.redis_ha import MASTER, SentinelCluster


@pytest.fixture(scope="module")
def cluster():
    c = SentinelCluster(tls=True)
    yield c
    c.stop()


def values(cluster: SentinelCluster) -> dict:
    return {"redis": {"mode": "external", "external": {
        "url": "rediss://redis.internal.example:6379/0",
        "passwordSecret": "redis-auth",
        "tls": {"caSecret": "redis-ca", "caKey": "tls.crt"},
        "sentinel": {"hosts": [cluster.sentinels], "masterName": MASTER, "tls": True},
    }}}


def test_the_worker_env_reaches_tls_sentinels_and_a_tls_primary(cluster, monkeypatch):
    docs = render(values(cluster))
    spec = named(docs, "Deployment", "lbhealth-worker")["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    env = env_of(container)
    # the CA file the env names is the Secret the values name, mounted where the env says
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "redis-ca"]
    (volume,) = [v for v in spec["volumes"] if v["name"] == "redis-ca"]
    assert volume["secret"] == {"secretName": "redis-ca", "items": [{"key": "tls.crt", "path": "ca.crt"}]}
    assert env["LBHEALTH_REDIS_CA_FILE"] == mount["mountPath"] + "/ca.crt" and mount["readOnly"] is True
    secrets = {("redis-auth", "password"): cluster.password}
    for name, value in env.items():
        if not name.startswith(("REDIS_", "LBHEALTH_REDIS_")):
            continue
        if isinstance(value, dict):
            ref = value["secretKeyRef"]
            value = secrets[(ref["name"], ref["key"])]
        elif name == "LBHEALTH_REDIS_CA_FILE":
            value = str(cluster.ca)  # what the kubelet mounts at that path
        monkeypatch.setenv(name, value)
    client = connect(Settings(_env_file=None), socket_timeout=2, socket_connect_timeout=1)
    client.set("chart", "tls")
    assert client.get("chart") == b"tls"
    pool = client.connection_pool
    assert pool.connection_class is SentinelManagedSSLConnection
    assert all(s.connection_pool.connection_class is SSLConnection for s in pool.sentinel_manager.sentinels)
    # the same values without sentinel.tls: the Sentinels are asked in plain text and no primary is found
    plain = values(cluster)
    plain["redis"]["external"]["sentinel"]["tls"] = False
    monkeypatch.setenv("LBHEALTH_REDIS_SENTINEL_TLS", container_env(plain)["LBHEALTH_REDIS_SENTINEL_TLS"])
    with pytest.raises(redis.ConnectionError):
        connect(Settings(_env_file=None), socket_timeout=1, socket_connect_timeout=0.5).ping()
