"""`lbhealth serve` and `lbhealth worker` as real processes, each with what the chart gives it: serve has no
kubeconfig and no cloud keys (no Kubernetes permission), the worker has both. A Tencent Cloud Monitor
callback is recorded by serve; the worker finds the Service behind the CLB (fake Tencent API, fake
Kubernetes API), routes the thread by that Service's namespace, posts the root message and diagnoses."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.bot.conftest import ROOT, get, post, wait_until
from tests.bot.test_redis_faults import stop
from tests.fakes.kube_api import FakeKubeAPI
from tests.fakes.redis_server import free_port
from tests.fakes.tencent_api import FakeTencentAPI
from tests.webhooks import payloads as p
from tests.webhooks.conftest import TENCENT_SECRET

SERVICE = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": "web", "namespace": "shop", "uid": "uid-web",
                        "annotations": {"service.kubernetes.io/loadbalance-id": "lb-abc12345"}},
           "spec": {"type": "LoadBalancer", "selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080, "nodePort": 30080}]},
           "status": {"loadBalancer": {"ingress": [{"ip": p.CLB_VIP}]}}}


def _env(redis_url: str, slack_url: str, config: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLACK_", "LBHEALTH_", "REDIS_", "PROMETHEUS_", "TENCENTCLOUD_", "AWS_", "KUBECONFIG"))}
    env.update({"PYTHONPATH": str(ROOT), "REDIS_URL": redis_url, "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "s",
                "SLACK_API_URL": slack_url, "LBHEALTH_CONFIG": config, "LBHEALTH_TENCENT_WEBHOOK_SECRET": TENCENT_SECRET,
                "LBHEALTH_LOG_LEVEL": "INFO", **extra})
    return env


def _ready(url: str) -> bool:
    try:
        return get(url + "/readyz", timeout=1)[0] == 200
    except OSError:
        return False


def test_serve_records_the_alarm_and_the_worker_maps_routes_and_diagnoses_it(redis_url, slack_api, tmp_path):
    slack_api.reset()
    config = tmp_path / "lbhealth.yaml"
    config.write_text("clusters:\n  - {name: tke, context: fake, cloud: tencent, region: ap-guangzhou, probe: false}\n"
                      "alarm_routes:\n  - {channel: C0SHOP, namespace: shop}\nalarm_channel: C0ALARMS\n")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with FakeKubeAPI([SERVICE]) as kube, FakeTencentAPI() as tencent:
        tencent.cloud.add_load_balancer({"LoadBalancerId": "lb-abc12345", "LoadBalancerName": "web", "LoadBalancerType": "OPEN",
                                         "Forward": 1, "LoadBalancerVips": [p.CLB_VIP], "Status": 1, "VpcId": "vpc-1"})
        serve_env = _env(redis_url, slack_api.url, str(config), KUBECONFIG=str(tmp_path / "no-kubeconfig"))
        worker_env = _env(redis_url, slack_api.url, str(config), KUBECONFIG=kube.write_kubeconfig(str(tmp_path / "kubeconfig")),
                          LBHEALTH_TENCENT_ENDPOINT=tencent.url, TENCENTCLOUD_SECRET_ID="AKIDtest", TENCENTCLOUD_SECRET_KEY="secret")
        with open(tmp_path / "serve.log", "wb") as serve_log, open(tmp_path / "worker.log", "wb") as worker_log:
            serve = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
                                     cwd=ROOT, env=serve_env, stdout=serve_log, stderr=subprocess.STDOUT)
            worker = None
            try:
                wait_until(lambda: _ready(url), timeout=30)
                status, body, _ = post(url + f"/webhooks/tencent/{TENCENT_SECRET}", json.dumps(p.tencent_clb()),
                                       {"Content-Type": "application/json"})
                assert status == 200 and json.loads(body) == {"sessionId": "tc-session-1", "retCode": 0}
                assert slack_api.calls_to("chat.postMessage") == [] and kube.calls() == []  # recorded, nothing more
                worker = subprocess.Popen([sys.executable, "-m", "bot.worker_process", "--name", "w-follow"], cwd=ROOT,
                                          env=worker_env, stdout=worker_log, stderr=subprocess.STDOUT)
                [root] = wait_until(lambda: slack_api.roots("C0SHOP"), timeout=30)  # routed by the Service's namespace
                assert "shop/web" in json.dumps(root)
                assert {(c.verb, c.resource) for c in kube.calls()} >= {("list", "services")}  # the worker's reads
                wait_until(lambda: [c for c in slack_api.calls_to("chat.postMessage")
                                    if c.args.get("channel") == "C0SHOP" and c.args.get("thread_ts")], timeout=60)
                assert len(slack_api.roots("C0SHOP")) == 1 and slack_api.roots("C0ALARMS") == []
            finally:
                if worker is not None:
                    stop(worker)
                stop(serve)
