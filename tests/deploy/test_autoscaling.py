"""Worker autoscaling on the rq queue length: what KEDA's ScaledObject reads (a Redis list) and what the
queue HPA reads (serve's gauge, through an adapter) are the length of the queue diagnoses wait in,
measured on a real Redis after enqueueing as the bot does."""

from __future__ import annotations

import helm_python as helm
import pytest
import redis as redis_lib

from bot.metrics import QueueCollector
from bot.queue import DiagnosisJob, enqueue_diagnosis, queue_counts
from tests.deploy.chart import named, render

KEDA = {"worker": {"autoscaling": {"keda": {"enabled": True, "namespace": "autoscalers"}}}}
HPA = {"worker": {"autoscaling": {"hpa": {"enabled": True, "metric": "queue", "queuedPerReplica": 3}}}}


@pytest.fixture
def queued(redis_url):
    r = redis_lib.Redis.from_url(redis_url)
    for i in range(3):
        enqueue_diagnosis(r, DiagnosisJob(namespace="shop", service=f"web-{i}", channel="C0123ABCD"), retry_intervals=[], job_timeout=60)
    yield r
    r.close()


def test_keda_reads_the_length_of_the_list_diagnoses_wait_in(queued):
    docs = render(KEDA)
    (trigger,) = named(docs, "ScaledObject", "lbhealth-worker")["spec"]["triggers"]
    assert trigger["type"] == "redis" and queued.llen(trigger["metadata"]["listName"]) == 3
    assert trigger["metadata"]["address"] == "lbhealth-redis.lbhealth.svc:6379"
    assert not [d for d in docs if d["kind"] == "HorizontalPodAutoscaler"]  # KEDA makes its own
    # the bundled Redis admits KEDA's operator, from the namespace the values name
    (rule,) = named(docs, "NetworkPolicy", "lbhealth-redis")["spec"]["ingress"]
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "autoscalers"}}} in rule["from"]


def test_the_queue_hpa_reads_the_gauge_serve_exports(queued):
    (metric,) = named(render(HPA), "HorizontalPodAutoscaler", "lbhealth-worker")["spec"]["metrics"]
    assert metric["type"] == "External" and metric["external"]["target"] == {"type": "AverageValue", "averageValue": "3"}
    wanted = metric["external"]["metric"]
    (family,) = QueueCollector(lambda: queue_counts(queued)).collect()
    assert family.name == wanted["name"]
    (sample,) = [s for s in family.samples if wanted["selector"]["matchLabels"].items() <= s.labels.items()]
    assert sample.value == 3


def test_one_autoscaler_at_most_and_keda_only_on_the_bundled_redis():
    with pytest.raises(helm.HelmError, match="not both"):
        render({"worker": {"autoscaling": {"hpa": {"enabled": True}, "keda": {"enabled": True}}}})
    with pytest.raises(helm.HelmError, match="metric: queue"):
        render({**KEDA, "redis": {"mode": "external", "external": {"url": "rediss://r.example:6379/0"}}})
    cpu = named(render({"worker": {"autoscaling": {"hpa": {"enabled": True}}}}), "HorizontalPodAutoscaler", "lbhealth-worker")
    assert cpu["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    assert "replicas" not in named(render(HPA), "Deployment", "lbhealth-worker")["spec"]  # the HPA owns it
