"""Redis as a service, with real servers on loopback: TLS with an ACL user, a password kept out of
the URL, and a Sentinel failover under the rq queue (jobs queued before the primary dies are
run after it; while no primary exists a command fails at once with a ConnectionError)."""

from __future__ import annotations

import time

import pytest
import redis
from redis.connection import SSLConnection
from redis.sentinel import SentinelManagedSSLConnection
from rq import Queue, SimpleWorker

from bot.redis_ha import connect, sentinel_hosts
from bot.settings import Settings
from tests.fakes.redis_ha import MASTER, SentinelCluster, TlsRedis


@pytest.fixture(scope="module")
def cluster():
    c = SentinelCluster()
    yield c
    c.stop()


def settings(**env) -> Settings:
    return Settings(_env_file=None, **env)


def test_sentinel_hosts_parse_and_refuse_garbage():
    assert sentinel_hosts(" a.example:26379 ,b:26380,") == [("a.example", 26379), ("b", 26380)]
    assert sentinel_hosts("") == []
    for bad in ("a.example", "a:b", ":26379"):
        with pytest.raises(ValueError, match="host:port"):
            sentinel_hosts(bad)


def test_tls_with_an_acl_user_and_the_password_from_its_own_setting():
    server = TlsRedis()
    try:
        client = connect(settings(redis_url=server.url, redis_password=server.password), socket_timeout=2)
        client.set("k", "v")
        assert client.get("k") == b"v" and client.acl_whoami() == "lbhealth"
        with pytest.raises(redis.AuthenticationError):
            connect(settings(redis_url=server.url, redis_password="wrong"), socket_timeout=2).ping()
        plain = f"redis://lbhealth@127.0.0.1:{server.port}/0"  # the same server without TLS
        with pytest.raises(redis.ConnectionError):
            connect(settings(redis_url=plain, redis_password=server.password), socket_timeout=2).ping()
    finally:
        server.stop()


def say(text: str) -> str:
    return text  # the job rq runs: importable, deterministic


def test_queue_survives_a_sentinel_failover(cluster):
    conf = settings(redis_url="redis://ignored:1/0", redis_password=cluster.password,
                    lbhealth_redis_sentinels=cluster.sentinels, lbhealth_redis_sentinel_master=MASTER)
    client = connect(conf, socket_timeout=2, socket_connect_timeout=1)
    assert client.connection_pool.connection_kwargs["db"] == 0
    queue = Queue("lbhealth-ha", connection=client)
    queue.empty()
    jobs = [queue.enqueue(say, f"job {i}") for i in range(20)]
    assert client.execute_command("WAIT", 1, 2000) == 1  # acknowledged by the replica too
    assert client.connection_pool.get_master_address()[1] == cluster.primary.port

    cluster.kill_primary_and_wait_for_failover()
    # the same client object follows the Sentinel to the new primary (one failed command at most)
    for _ in range(50):
        try:
            assert queue.count == 20
            break
        except redis.ConnectionError:
            time.sleep(0.1)
    else:
        pytest.fail("the client did not reach the promoted replica")
    assert client.connection_pool.get_master_address()[1] == cluster.replica.port
    queue.enqueue(say, "after failover")
    SimpleWorker([queue], connection=client).work(burst=True)
    assert [j.get_status(refresh=True) for j in jobs] == ["finished"] * 20
    assert sorted(j.return_value() for j in jobs) == sorted(f"job {i}" for i in range(20))


def test_no_primary_is_a_connection_error():
    c = SentinelCluster()
    try:
        conf = settings(redis_password=c.password, lbhealth_redis_sentinels=c.sentinels, lbhealth_redis_sentinel_master=MASTER)
        client = connect(conf, socket_timeout=1, socket_connect_timeout=0.5)
        client.ping()
        c.replica.kill()
        c.primary.kill()
        with pytest.raises(redis.ConnectionError):  # the web tier answers 503 / a clear reply
            client.rpush("lbhealth:intake", "x")
    finally:
        c.stop()


def test_a_private_ca_from_its_own_setting():
    server = TlsRedis()
    try:
        url = f"rediss://lbhealth@127.0.0.1:{server.port}/0"  # no ssl_ca_certs in the URL: the CA file setting
        client = connect(settings(redis_url=url, redis_password=server.password, lbhealth_redis_ca_file=str(server.cert)), socket_timeout=2)
        assert client.acl_whoami() == "lbhealth"
        with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
            connect(settings(redis_url=url, redis_password=server.password), socket_timeout=2).ping()
    finally:
        server.stop()


def test_sentinels_and_the_primary_over_tls_through_a_failover():
    """Every process TLS-only (tests.fakes.redis_ha): the Sentinels are asked over TLS, the primary
    they name is reached over TLS, both verified with the CA file, and the client follows a failover."""
    c = SentinelCluster(tls=True)
    try:
        env = dict(redis_url="rediss://ignored:1/0", redis_password=c.password, lbhealth_redis_sentinels=c.sentinels,
                   lbhealth_redis_sentinel_master=MASTER, lbhealth_redis_ca_file=str(c.ca))
        client = connect(settings(**env, lbhealth_redis_sentinel_tls=True), socket_timeout=2, socket_connect_timeout=1)
        client.set("k", "before")
        assert client.execute_command("WAIT", 1, 2000) == 1
        pool = client.connection_pool
        assert pool.connection_class is SentinelManagedSSLConnection
        assert all(s.connection_pool.connection_class is SSLConnection for s in pool.sentinel_manager.sentinels)
        c.kill_primary_and_wait_for_failover()
        for _ in range(50):
            try:
                assert client.get("k") == b"before"
                break
            except redis.ConnectionError:
                time.sleep(0.1)
        else:
            pytest.fail("the client did not reach the promoted replica over TLS")
        assert pool.get_master_address() == ("127.0.0.1", c.replica.port)
        client.set("k", "after")
        # Sentinels on TLS asked in plain text, or without the CA: no primary is found
        for wrong in (settings(**env), settings(**{**env, "lbhealth_redis_ca_file": ""}, lbhealth_redis_sentinel_tls=True)):
            with pytest.raises(redis.ConnectionError):
                connect(wrong, socket_timeout=1, socket_connect_timeout=0.5).ping()
        # the primary asked in plain text (redis://) while the Sentinels answer over TLS
        plain = settings(**{**env, "redis_url": "redis://ignored:1/0"}, lbhealth_redis_sentinel_tls=True)
        with pytest.raises(redis.ConnectionError):
            connect(plain, socket_timeout=1, socket_connect_timeout=0.5).ping()
    finally:
        c.stop()


def test_a_command_or_alarm_is_acknowledged_only_once_a_replica_has_it():
    """With Sentinel, a failover promotes the replica: a command or alarm only the primary holds would
    die with it, so the ack says "recorded" only after WAIT saw a replica take it. A replica that does
    not answer (SIGSTOP) makes a command "unconfirmed" (it is on the primary and still runs unless the
    primary dies) and an alarm a 5xx (NotReplicated: its retry dedups); with no replica connected there
    is nothing a failover could promote, and the ack is plain again."""
    import os
    import signal

    from bot.incidents.store import Incidents
    from bot.redis_ha import NotReplicated, write_confirmed
    from bot.slack import intake
    from tests.webhooks.test_incidents import alarm

    c = SentinelCluster()
    try:
        conf = settings(redis_password=c.password, lbhealth_redis_sentinels=c.sentinels, lbhealth_redis_sentinel_master=MASTER)
        client = connect(conf, socket_timeout=1, socket_connect_timeout=0.5)
        body = {"team_id": "T1", "channel_id": "C1", "user_id": "U1", "command": "/lbhealth", "text": "shop/web"}
        assert intake.submit(client, body) == intake.RECORDED
        assert write_confirmed(client, "SET", "k", "v", wait_s=0.5) == (b"OK", True)

        incidents = Incidents(client)
        assert incidents.record(alarm(mid="1")).outcome == "opened"

        os.kill(c.replica.proc.pid, signal.SIGSTOP)
        try:
            assert intake.submit(client, body) == intake.UNCONFIRMED
            assert write_confirmed(client, "SET", "k", "w", wait_s=0.2) == (b"OK", False)
            with pytest.raises(NotReplicated):  # the webhook answers 503: the sender retries
                incidents.record(alarm(mid="2", changed="2026-11-21T10:01:00.000+0000"))
        finally:
            os.kill(c.replica.proc.pid, signal.SIGCONT)
        assert client.llen(intake.INTAKE) == 2  # the unconfirmed one is on the primary all the same
        # the retry of the alarm is a duplicate of what the primary took, and now confirmed
        assert incidents.record(alarm(mid="2", changed="2026-11-21T10:01:00.000+0000")).outcome == "duplicate"
        assert incidents.get(alarm().incident_key)["count"] == 2

        c.replica.kill()
        SentinelCluster._wait(lambda: not client.execute_command("ROLE")[2], "the primary to drop its replica")
        assert intake.submit(client, body) == intake.RECORDED
        assert write_confirmed(client, "SET", "k", "x", wait_s=0.5) == (b"OK", None)
    finally:
        c.stop()


def test_without_role_in_its_acl_the_client_lets_wait_answer(redis_url):
    """ROLE is @dangerous: an ACL user without it still gets an answer, from WAIT alone (no replica
    here: False after the wait), where a user with ROLE learns that no replica exists (None)."""
    from bot.redis_ha import on_a_replica

    admin = redis.Redis.from_url(redis_url)
    admin.execute_command("ACL", "SETUSER", "norole", "on", ">pw", "~*", "&*", "+@all", "-@dangerous")
    try:
        for user, password, expected in (("norole", "pw", False), (None, None, None)):
            client = redis.Redis.from_url(redis_url, username=user, password=password)
            conn = client.connection_pool.get_connection()
            try:
                conn.send_command("SET", "k", "v")
                assert conn.read_response() == b"OK"
                assert on_a_replica(conn, 0.05) is expected
            finally:
                client.connection_pool.release(conn)
                client.close()
    finally:
        admin.execute_command("ACL", "DELUSER", "norole")
        admin.close()
