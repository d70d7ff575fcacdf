"""Shared fixtures. Tests start their own services on loopback; nothing shared is touched."""

from __future__ import annotations

import pytest

from tests.fakes.redis_server import RedisServer


@pytest.fixture(scope="session")
def redis_server():
    server = RedisServer()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server):
    """A clean database on the suite's private server for each test."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()  # the suite's own private server, never a shared instance
    client.close()
    return redis_server.url
