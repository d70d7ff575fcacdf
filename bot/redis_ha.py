"""Redis as a service: TLS, ACL users, and Sentinel failover, for the one client factory (bot.redis_conn).

    client = connect(settings, socket_timeout=0.5, ...)   # keyword arguments go to every connection

REDIS_URL names the scheme (`rediss://` = TLS; `?ssl_ca_certs=...` etc. as redis-py reads them), the
ACL user, the password and the database. REDIS_PASSWORD, when set, replaces the URL's password so
that a secret never has to be written into a URL (nor reach a log line that prints one).

With LBHEALTH_REDIS_SENTINELS ("host:port,host:port") the URL's host is not used: the Sentinels
name the current primary of LBHEALTH_REDIS_SENTINEL_MASTER, and redis-py's SentinelConnectionPool
asks them again whenever a connection fails, so serve and the workers follow a failover without a
restart. While no primary exists, commands raise redis.ConnectionError (MasterNotFoundError), which
the web tier already turns into a 503 / a clear reply. Sentinels are asked with
LBHEALTH_REDIS_SENTINEL_PASSWORD when they require one (`requirepass` of sentinel.conf), and over TLS
with LBHEALTH_REDIS_SENTINEL_TLS (their `tls-port`), with the URL's `ssl_*` options.

LBHEALTH_REDIS_CA_FILE names the CA bundle that signed the servers' certificates (a private CA, mounted
from a Secret by the chart) for every TLS connection, unless the URL's `ssl_ca_certs` names one.
"""

from __future__ import annotations

from typing import Any

from redis import Redis
from redis.connection import SSLConnection, parse_url
from redis.sentinel import Sentinel

from bot.settings import Settings


def sentinel_hosts(value: str) -> list[tuple[str, int]]:
    """'a:26379, b:26379' -> [('a', 26379), ('b', 26379)]; a malformed entry is a configuration error."""
    hosts = []
    for item in (i.strip() for i in value.split(",")):
        if not item:
            continue
        host, sep, port = item.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"LBHEALTH_REDIS_SENTINELS: '{item}' is not host:port")
        hosts.append((host.strip("[]"), int(port)))
    return hosts


def connect(settings: Settings, **kwargs: Any) -> Redis:
    """A client for REDIS_URL, or for the primary the Sentinels name; `kwargs` (timeouts, retry,
    health checks) apply to the data connections, and the socket timeouts to the Sentinels too."""
    if settings.redis_password:
        kwargs["password"] = settings.redis_password
    ca = settings.lbhealth_redis_ca_file
    sentinels = sentinel_hosts(settings.lbhealth_redis_sentinels)
    if not sentinels:
        if ca and settings.redis_url.startswith("rediss://"):
            kwargs["ssl_ca_certs"] = ca  # a URL's own ssl_ca_certs still wins (from_url applies it last)
        return Redis.from_url(settings.redis_url, **kwargs)
    url = parse_url(settings.redis_url)
    url.pop("host", None)
    url.pop("port", None)
    if url.pop("connection_class", None) is SSLConnection:
        url["ssl"] = True  # SentinelConnectionPool picks its TLS connection class from this flag
        if ca:
            url.setdefault("ssl_ca_certs", ca)
    options = {**url, **kwargs}
    sentinel = Sentinel(sentinels, sentinel_kwargs=_sentinel_kwargs(settings, options))
    return sentinel.master_for(settings.lbhealth_redis_sentinel_master, **options)


def _sentinel_kwargs(settings: Settings, options: dict[str, Any]) -> dict[str, Any]:
    """How the Sentinels themselves are asked: the data connections' socket timeouts, their own
    password, and TLS (with the URL's ssl_* options and the CA file) when they listen on TLS."""
    out = {k: v for k, v in options.items() if k.startswith("socket_")}
    if settings.lbhealth_redis_sentinel_password:
        out["password"] = settings.lbhealth_redis_sentinel_password
    if settings.lbhealth_redis_sentinel_tls:
        out.update({k: v for k, v in options.items() if k.startswith("ssl_")}, ssl=True)
        if settings.lbhealth_redis_ca_file:
            out.setdefault("ssl_ca_certs", settings.lbhealth_redis_ca_file)
    return out
