"""The fix engine against the fake Kubernetes API (HTTP, official client) and real Redis."""

from __future__ import annotations

import pytest
import yaml

from bot.fixes.model import FixContext
from checks.collect.live import Clients
from tests.fakes.kube_api import FakeKubeAPI


def example_objects(name: str) -> list[dict]:
    """The Kubernetes objects of a bundled example (its `kubectl get -o yaml` dump)."""
    out: list[dict] = []
    with open(f"examples/{name}/kubectl-get.yaml") as fh:
        for doc in yaml.safe_load_all(fh):
            if not doc:
                continue
            out.extend(doc.get("items") or [] if doc.get("kind") == "List" else [doc])
    return out


@pytest.fixture
def no_cloud(monkeypatch, tmp_path):
    """No AWS or Tencent credentials anywhere: the cloud reads skip, nothing leaves the machine."""
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL",
                "TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY", "LBHEALTH_TENCENT_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return monkeypatch


@pytest.fixture
def shop(no_cloud):
    """The targetport-mismatch example (shop/web: targetPort 8080, containerPort 80) served live."""
    with FakeKubeAPI(example_objects("targetport-mismatch"), record_bodies=True) as api:
        yield api


@pytest.fixture
def ctx_for(redis_url):
    import redis

    clients: list = []

    def make(api: FakeKubeAPI, **kw) -> FixContext:
        r = redis.Redis.from_url(redis_url)
        clients.append(r)
        return FixContext(clients=Clients(k8s=api.api_client()), redis=r, sleep=lambda s: None, **kw)

    yield make
    for r in clients:
        r.close()
