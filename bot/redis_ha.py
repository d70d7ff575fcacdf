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

Replication is asynchronous: a write the primary confirmed can die with it, and the promoted replica
then knows nothing of it. Where that would lose acknowledged work or repeat a Slack post, a client that
follows Sentinel sends WAIT 1 on the connection that wrote (`wait_replica`), before it acknowledges or
posts: the Sentinel promotes a replica, and the replica has every write up to the one waited for
(it replays the primary's writes in order).
"""

from __future__ import annotations

from typing import Any

from redis import Redis
from redis.connection import SSLConnection, parse_url
from redis.exceptions import NoScriptError, RedisError, ResponseError
from redis.sentinel import Sentinel, SentinelConnectionPool

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



def follows_sentinel(redis: Redis) -> bool:
    """True for a client of the primary the Sentinels name: a failover can lose its last writes."""
    return isinstance(redis.connection_pool, SentinelConnectionPool)


class NotReplicated(RedisError):
    """The primary took the write, but no replica confirmed it in time: a failover now would lose it."""


def write_confirmed(redis: Redis, *command: Any, wait_s: float | None = None) -> tuple[Any, bool | None]:
    """Run one write `command` (its raw reply) and, with Sentinel, confirm it on a replica on the same
    connection (WAIT counts the writes of its own connection): see `on_a_replica`. `wait_s` defaults
    to half the socket timeout, at most 1 s (a lagging replica is then an answer, not a timeout)."""
    pool = redis.connection_pool
    conn = pool.get_connection()
    try:
        conn.send_command(*command)
        reply = conn.read_response()
        if not follows_sentinel(redis):
            return reply, None
        return reply, on_a_replica(conn, wait_s if wait_s is not None else min(1.0, (conn.socket_timeout or 2.0) / 2))
    except BaseException:
        conn.disconnect()
        raise
    finally:
        pool.release(conn)


def script_confirmed(redis: Redis, script: Any, keys: list[Any], args: list[Any], *,
                     wait_s: float | None = None) -> tuple[Any, bool | None]:
    """A registered Lua `script` (redis.register_script) run like `write_confirmed`, loaded first
    where the server lacks it (a new primary after a failover, a restart)."""
    command = ("EVALSHA", script.sha, len(keys), *keys, *args)
    try:
        return write_confirmed(redis, *command, wait_s=wait_s)
    except NoScriptError:
        redis.script_load(script.script)
        return write_confirmed(redis, *command, wait_s=wait_s)


def on_a_replica(conn: Any, wait_s: float) -> bool | None:
    """After a write on `conn`: True once a replica has it, False if none did within `wait_s`, None if
    the primary has no replica connected (then no failover can promote one that lacks it)."""
    conn.send_command("ROLE", check_health=False)
    try:
        role = conn.read_response()
        if len(role) < 3 or not role[2]:
            return None
    except ResponseError:  # ROLE is @dangerous: an ACL user may lack it; then WAIT alone answers
        pass
    conn.send_command("WAIT", 1, max(1, int(wait_s * 1000)), check_health=False)
    return int(conn.read_response()) >= 1
