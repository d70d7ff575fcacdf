"""nodeChecks in the chart is what the worker does: with it, the worker's environment turns node checks
on in the namespace of the node-reader Role and a queued diagnosis starts its reader pods there; without
it, no Role, and the same diagnosis starts none and says node checks are off. The environment is taken
from the rendered Deployment and read by the real Settings, so a renamed variable fails here."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from bot.settings import Settings
from checks.collect.node import DEFAULT_IMAGE
from tests import factories as f
from tests.bot.conftest import make_settings, run_jobs
from tests.collect.test_node import IPTABLES_KUBE_PROXY, SYSCTL_TKE, _kubelet
from tests.deploy.chart import container_env, of_kind, render
from tests.fakes.kube_api import FakeKubeAPI
from tests.fakes.slack_api import FakeSlackAPI

NODE_ENV = ("LBHEALTH_NODE_CHECKS", "LBHEALTH_NODE_NAMESPACE", "LBHEALTH_NODE_IMAGE")
ON = {"nodeChecks": {"enabled": True, "namespace": "lbhealth-node"}}


def test_the_worker_env_follows_node_checks_and_the_role_namespace():
    off = container_env({})
    assert off["LBHEALTH_NODE_CHECKS"] == "false" and "LBHEALTH_NODE_NAMESPACE" not in off
    docs = render(ON)
    on = container_env(ON)
    assert on["LBHEALTH_NODE_CHECKS"] == "true" and on["LBHEALTH_NODE_IMAGE"] == DEFAULT_IMAGE
    (role,) = [r for r in of_kind(docs, "Role") if r["metadata"]["name"] == "lbhealth-node-reader"]
    (binding,) = [b for b in of_kind(docs, "RoleBinding") if b["metadata"]["name"] == "lbhealth-node-reader"]
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == on["LBHEALTH_NODE_NAMESPACE"] == "lbhealth-node"
    assert [s["name"] for s in binding["subjects"]] == ["lbhealth-worker"]
    # only the worker runs diagnoses with node checks: serve and the writer never get the switch
    for name in ("lbhealth-serve", "lbhealth-writer"):
        assert not set(NODE_ENV) & set(container_env({**ON, "fixes": {"enabled": True}}, name)), name
    assert set(NODE_ENV) <= set(on)


def cluster() -> list[dict[str, Any]]:
    return [
        f.service(),
        f.pod("web-1", labels={"app": "web"}, node="node-1"),
        f.pod("web-2", labels={"app": "web"}, node="node-2", ip="127.0.0.3"),
        f.endpoint_slice(endpoints=[("127.0.0.2", True, "web-1", "node-1"), ("127.0.0.3", True, "web-2", "node-2")]),
        f.node("node-1"),
        f.node("node-2", internal_ip="127.0.1.2"),
    ]


def diagnose_with_chart_env(values, monkeypatch, tmp_path, redis_url) -> tuple[FakeKubeAPI, list[str]]:
    """Run one queued diagnosis of shop/web in a worker whose environment is the rendered one."""
    from bot import job_runtime
    from bot.app import worker_deps
    from bot.queue import DiagnosisJob, enqueue_diagnosis

    for name, value in container_env(values).items():
        if name in NODE_ENV:
            monkeypatch.setenv(name, value)
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "TENCENTCLOUD_SECRET_ID"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    outputs = {n: f"# node: {n}\n" + SYSCTL_TKE + IPTABLES_KUBE_PROXY for n in ("node-1", "node-2")}
    slack = FakeSlackAPI()
    with FakeKubeAPI(cluster(), record_bodies=True) as api:
        kubeconfig = api.write_kubeconfig(str(tmp_path / "kubeconfig"), context="this")
        monkeypatch.setenv("KUBECONFIG", kubeconfig)
        config = tmp_path / "lbhealth.yaml"
        config.write_text("clusters:\n  - {name: this, default: true, context: this, probe: false}\n")
        settings = make_settings(redis_url, slack.url, config)  # Settings: the node variables from the env
        import redis as redis_lib

        client = redis_lib.Redis.from_url(redis_url)
        deps = worker_deps(settings, redis=client)
        job_runtime.configure(deps)
        stop = threading.Event()
        kubelet = threading.Thread(target=_kubelet, args=(api, outputs, stop), daemon=True)
        kubelet.start()
        try:
            job = DiagnosisJob(namespace="shop", service="web", cluster="this", channel="C1", requested_by="U1")
            enqueue_diagnosis(client, job, post_root=lambda j: deps.client.chat_postMessage(channel="C1", text="root")["ts"],
                              retry_intervals=[0], job_timeout=60)
            run_jobs(client)
            texts = [json.dumps(m) for m in slack.messages.values()]
        finally:
            stop.set()
            kubelet.join()
            job_runtime.configure(None)
            client.close()
            slack.stop()
    return api, texts


def test_with_node_checks_a_diagnosis_starts_reader_pods_in_the_roles_namespace(monkeypatch, tmp_path, redis_url):
    api, texts = diagnose_with_chart_env(ON, monkeypatch, tmp_path, redis_url)
    created = [r.body for r in api.calls(verb="create", resource="pods")]
    assert sorted(p["spec"]["nodeName"] for p in created) == ["node-1", "node-2"]
    assert {p["metadata"]["namespace"] for p in created} == {"lbhealth-node"}
    assert {p["spec"]["containers"][0]["image"] for p in created} == {DEFAULT_IMAGE}
    assert len(api.calls(verb="delete", resource="pods", namespace="lbhealth-node")) == 2
    assert not any("Node checks are off" in t for t in texts)


def test_without_node_checks_no_pod_is_started_and_the_report_says_so(monkeypatch, tmp_path, redis_url):
    api, texts = diagnose_with_chart_env({}, monkeypatch, tmp_path, redis_url)
    assert api.calls(verb="create") == [] and api.calls(verb="list", resource="nodes")
    assert any("Node checks are off" in t for t in texts), texts


@pytest.mark.parametrize("image", ["", "registry.internal/debian-iptables:bookworm-v1.0.0"])
def test_settings_read_the_variables_the_chart_sets(monkeypatch, image):
    from bot.worker import node_options

    monkeypatch.setenv("LBHEALTH_NODE_CHECKS", "true")
    monkeypatch.setenv("LBHEALTH_NODE_NAMESPACE", "lbhealth-node")
    monkeypatch.setenv("LBHEALTH_NODE_IMAGE", image)
    s = Settings(_env_file=None)
    assert s.lbhealth_node_checks is True
    expected = {"node_namespace": "lbhealth-node"} | ({"node_image": image} if image else {})
    assert node_options(s) == expected
