"""Bench: API calls and wall time of one diagnosis as the cluster grows and every call slows down.

For clusters of 100, 1,000 and 10,000 pods (spread over many namespaces and Services; the
diagnosed Service `shop/web` has a handful of pods and an Ingress), with 0 ms and 50 ms added
to every API call, it runs `checks.runner.diagnose(target, clients=..., probe=False)` against:

- the fake Kubernetes API server (tests/fakes/kube_api.py) through the official client,
- AWS: moto's server behind a small latency proxy (botocore via AWS_ENDPOINT_URL), an ALB with
  an ip target group bound by a TargetGroupBinding,
- Tencent Cloud: the fake Tencent API (tests/fakes/tencent_api.py) through the SDK, a CLB
  named by the Service's annotation,

and prints, per case, the Kubernetes/AWS/Tencent calls of one diagnosis (counted by the
servers, checked against the report's own count) and the median wall time of a few runs.
Bars (DESIGN.md): each Kubernetes kind read once, <= 12 Kubernetes calls, AWS <= 4 + 1 per
target group, Tencent <= 4, never a cluster-wide pod list, calls and time flat across sizes,
< 400 ms per diagnosis at 50 ms per call.

Everything listens on, and is reached at, 127.0.0.1. Run: .venv/bin/python bench/diagnose.py
"""

from __future__ import annotations

import argparse
import http.client
import logging
import os
import statistics
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Loopback only: no credential, profile or endpoint from the environment may send a call elsewhere.
for _var in [v for v in os.environ if v.startswith(("AWS_", "TENCENTCLOUD_", "LBHEALTH_"))] + ["KUBECONFIG"]:
    os.environ.pop(_var, None)
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
)

from checks.model import Target  # noqa: E402
from checks.runner import diagnose  # noqa: E402
from tests import factories as f  # noqa: E402
from tests.fakes.kube_api import FakeKubeAPI  # noqa: E402

SIZES = (100, 1_000, 10_000)
LATENCIES_MS = (0, 50)
WEB_PODS = 4
PODS_PER_NODE = 50
PODS_PER_NAMESPACE = 100
PODS_PER_SERVICE = 10
TARGET = Target("shop", "web")


# ---- a latency proxy in front of moto's server ------------------------------------------------


class LatencyProxy:
    """Forwards every request to `upstream` (host, port) after `latency_ms`, and counts them."""

    def __init__(self, upstream: tuple[str, int], latency_ms: float = 0.0) -> None:
        self.upstream = upstream
        self.latency_ms = latency_ms
        self.calls: Counter = Counter()  # X-Amz-Target / Action -> count
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                proxy._forward(self)

            do_GET = do_POST  # noqa: N815

        class Server(ThreadingHTTPServer):
            # the default backlog of 5 drops SYNs when botocore opens its parallel connections
            # at once on a busy machine: the client then waits 1 s to retransmit
            request_queue_size = 128

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def _forward(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        action = h.headers.get("X-Amz-Target") or _form_action(body) or h.path
        with self._lock:
            self.calls[action] += 1
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000.0)
        conn = http.client.HTTPConnection(*self.upstream, timeout=30)
        headers = {k: v for k, v in h.headers.items() if k.lower() not in ("connection", "keep-alive")}
        conn.request(h.command, h.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        h.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("connection", "content-length", "transfer-encoding", "server", "date"):
                h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.calls.values())

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _form_action(body: bytes) -> str:
    from urllib.parse import parse_qs

    try:
        return (parse_qs(body.decode()).get("Action") or [""])[0]
    except UnicodeDecodeError:
        return ""


# ---- clusters ---------------------------------------------------------------------------------


def _ip(prefix: int, i: int) -> str:
    return f"127.{prefix + (i >> 16)}.{(i >> 8) & 255}.{(i & 255) or 1}"


def noise(total_pods: int, nodes: list[str]) -> list[dict[str, Any]]:
    """Pods, Services, EndpointSlices and Warning events of other teams, in many namespaces."""
    objs: list[dict[str, Any]] = []
    n = total_pods - WEB_PODS
    for i in range(n):
        ns = f"team-{i // PODS_PER_NAMESPACE:03d}"
        app = f"app-{(i % PODS_PER_NAMESPACE) // PODS_PER_SERVICE}"
        objs.append(f.pod(f"{app}-{i}", ns, labels={"app": app}, ip=_ip(20, i), node=nodes[i % len(nodes)]))
        if i % PODS_PER_SERVICE == 0:
            objs.append(f.service(app, ns, selector={"app": app}, type="ClusterIP"))
            objs.append(f.endpoint_slice(app, ns, endpoints=[(_ip(20, i), True, f"{app}-{i}", nodes[i % len(nodes)])]))
            objs.append(f.event("Pod", f"{app}-{i}", ns))
    # the same app name as the target elsewhere, and a neighbour in the namespace
    objs.append(f.service("web", "team-000", selector={"app": "web"}, type="ClusterIP"))
    objs.append(f.pod("api-0", "shop", labels={"app": "api"}, ip="127.2.0.1", node=nodes[0]))
    return objs


def kube_system(nodes: list[str], node_ips: list[str], aws: bool) -> list[dict[str, Any]]:
    objs: list[dict[str, Any]] = [
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "kube-proxy", "namespace": "kube-system", "generation": 1},
            "spec": {"selector": {"matchLabels": {"k8s-app": "kube-proxy"}}, "template": {"metadata": {"labels": {"k8s-app": "kube-proxy"}}, "spec": {"containers": [{"name": "kube-proxy", "image": "kube-proxy:v1.30", "command": ["kube-proxy", "--v=2"]}]}}},
            "status": {"desiredNumberScheduled": len(nodes), "numberReady": len(nodes), "updatedNumberScheduled": len(nodes), "numberAvailable": len(nodes)},
        }
    ]
    for node, ip in zip(nodes, node_ips, strict=True):
        objs.append(f.pod(f"kube-proxy-{node}", "kube-system", labels={"k8s-app": "kube-proxy"}, ip=ip, node=node, containers=[f.container("kube-proxy", ports=[])]))
    if aws:
        objs.append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "aws-load-balancer-controller", "namespace": "kube-system", "generation": 1},
                "spec": {"replicas": 2, "selector": {"matchLabels": {"app.kubernetes.io/name": "aws-load-balancer-controller"}}},
                "status": {"replicas": 2, "readyReplicas": 2, "availableReplicas": 2, "updatedReplicas": 2},
            }
        )
    return objs


def web_pods(nodes: list[str]) -> list[dict[str, Any]]:
    return [
        f.pod(
            f"web-{i}",
            "shop",
            labels={"app": "web", "pod-template-hash": "5d9c"},
            ip=f"127.0.0.{10 + i}",
            node=nodes[i % len(nodes)],
            containers=[f.container("app", readiness_path="/healthz")],
        )
        for i in range(WEB_PODS)
    ]


def aws_nodes(total_pods: int) -> tuple[list[str], list[str]]:
    n_nodes = max(2, total_pods // PODS_PER_NODE)
    nodes = [f"ip-127-1-{i // 250}-{i % 250 + 1}.ec2.internal" for i in range(n_nodes)]
    node_ips = [f"127.1.{i // 250}.{i % 250 + 1}" for i in range(n_nodes)]
    return nodes, node_ips


def aws_resources(moto_url: str) -> dict[str, str]:
    """An ALB with an ip target group holding the web pods, its listener and the controller's tags, in moto."""
    import boto3

    pods = web_pods(aws_nodes(0)[0])
    session = boto3.Session(region_name="us-east-1")
    ec2 = session.client("ec2", endpoint_url=moto_url)
    elb = session.client("elbv2", endpoint_url=moto_url)
    vpc = ec2.create_vpc(CidrBlock="127.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"127.0.{i}.0/24", AvailabilityZone=f"us-east-1{az}")["Subnet"]["SubnetId"]
        for i, az in enumerate("ab")
    ]
    lb = elb.create_load_balancer(Name="k8s-shop-web-0123456789", Subnets=subnets, Type="application", Scheme="internet-facing")["LoadBalancers"][0]
    tg = elb.create_target_group(
        Name="k8s-shop-web-80-abcdef", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip",
        HealthCheckProtocol="HTTP", HealthCheckPath="/healthz", Matcher={"HttpCode": "200"},
    )["TargetGroups"][0]
    elb.register_targets(TargetGroupArn=tg["TargetGroupArn"], Targets=[{"Id": p["status"]["podIP"], "Port": 80} for p in pods])
    elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80, DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}])
    stack = [{"Key": "elbv2.k8s.aws/cluster", "Value": "bench"}, {"Key": "ingress.k8s.aws/stack", "Value": "shop/web"}]
    elb.add_tags(ResourceArns=[lb["LoadBalancerArn"]], Tags=stack)
    elb.add_tags(ResourceArns=[tg["TargetGroupArn"]], Tags=[*stack, {"Key": "ingress.k8s.aws/resource", "Value": "shop/web-web:80"}])
    return {"dns": lb["DNSName"], "tg": tg["TargetGroupArn"]}


def aws_cluster(total_pods: int, res: dict[str, str]) -> list[dict[str, Any]]:
    """shop/web behind the ALB of aws_resources(); its Ingress and TargetGroupBinding point at it."""
    nodes, node_ips = aws_nodes(total_pods)
    pods = web_pods(nodes)
    svc = f.service("web", "shop", selector={"app": "web"}, type="NodePort")
    ing = f.ingress(
        "web", "shop",
        annotations={"alb.ingress.kubernetes.io/target-type": "ip", "alb.ingress.kubernetes.io/healthcheck-path": "/healthz", "alb.ingress.kubernetes.io/scheme": "internet-facing"},
    )
    ing["status"] = {"loadBalancer": {"ingress": [{"hostname": res["dns"]}]}}
    tgb = {
        "apiVersion": "elbv2.k8s.aws/v1beta1",
        "kind": "TargetGroupBinding",
        "metadata": {"name": "k8s-shop-web-80-abcdef", "namespace": "shop", "labels": {"ingress.k8s.aws/stack-name": "web", "ingress.k8s.aws/stack-namespace": "shop"}},
        "spec": {"serviceRef": {"name": "web", "port": 80}, "targetGroupARN": res["tg"], "targetType": "ip"},
    }
    slices = f.endpoint_slice("web", "shop", endpoints=[(p["status"]["podIP"], True, p["metadata"]["name"], p["spec"]["nodeName"]) for p in pods])
    node_objs = [f.node(n, internal_ip=ip, provider_id=f"aws:///us-east-1a/i-{i:017x}") for i, (n, ip) in enumerate(zip(nodes, node_ips, strict=True))]
    return [svc, ing, tgb, slices, *pods, *node_objs, f.event("Pod", "web-0", "shop"), *kube_system(nodes, node_ips, aws=True), *noise(total_pods, nodes)]


def tencent_cluster(total_pods: int, cloud: Any) -> list[dict[str, Any]]:
    """The TKE scenario of tests/tencent_factories (shop/web behind lb-web), in a bigger cluster."""
    from tests import tencent_factories as tf

    sc = tf.scenario()
    sc.load_into(cloud)
    base = [o for o in sc.objects if o["kind"] != "Node"]
    n_nodes = max(2, total_pods // PODS_PER_NODE)
    nodes = [n for n, _, _ in tf.NODES] + [f"10.0.{i // 250}.{i % 250 + 1}" for i in range(n_nodes - len(tf.NODES))]
    node_ips = [ip for _, ip, _ in tf.NODES] + [f"127.1.{i // 250}.{i % 250 + 10}" for i in range(n_nodes - len(tf.NODES))]
    node_objs = [f.node(n, internal_ip=ip, provider_id=f"qcloud:///800002/ins-{i:08x}") for i, (n, ip) in enumerate(zip(nodes, node_ips, strict=True))]
    have = len([o for o in base if o["kind"] == "Pod"])
    extra = [
        f.pod(f"web-{i}", "shop", labels={"app": "web"}, ip=f"127.0.0.{20 + i}", node=nodes[i % 2])
        for i in range(have + 1, WEB_PODS + 1)
    ]
    ing = f.ingress("web", "shop", ingress_class="qcloud")
    return [*base, *extra, ing, *node_objs, f.event("Pod", "web-1", "shop"), *kube_system(nodes, node_ips, aws=False), *noise(total_pods, nodes)]


# ---- measuring ----------------------------------------------------------------------------------


def measure(kube: FakeKubeAPI, clients: Any, runs: int, cloud_count: Any) -> dict[str, Any]:
    import gc

    # The fake servers share this process: keep their fixture objects (10,000 pods) out of the
    # collector's way, as if they ran elsewhere; a full collection during a run is bench noise.
    gc.collect()
    gc.freeze()
    times: list[float] = []
    last: dict[str, Any] = {}
    for run in range(runs + 1):  # run 0 warms the clients (imports, connection pools, SDK clients)
        kube.reset_log()
        cloud_before = cloud_count()
        t0 = time.perf_counter()
        report, _state = diagnose(TARGET, clients=clients, probe=False)
        elapsed = (time.perf_counter() - t0) * 1000
        per_kind = Counter((r.verb, r.resource, r.namespace) for r in kube.calls())
        last = {
            "k8s": kube.total,
            "report": dict(report.api_calls),
            "cloud_server": cloud_count() - cloud_before,
            "once": max(per_kind.values(), default=0) == 1,
            "cluster_pod_lists": kube.count(verb="list", resource="pods", cluster_wide=True),
            "verdict": f"{report.verdict.status} {report.verdict.check_id or ''}".strip(),
        }
        if run:
            times.append(elapsed)
    gc.unfreeze()
    last["median_ms"] = statistics.median(times)
    last["max_ms"] = max(times)
    return last


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per case (median reported)")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--latencies", default=",".join(map(str, LATENCIES_MS)))
    parser.add_argument("--clouds", default="aws,tencent")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    sizes = [int(s) for s in args.sizes.split(",")]
    latencies = [float(x) for x in args.latencies.split(",")]
    clouds = [c.strip() for c in args.clouds.split(",") if c.strip()]
    rows: list[dict[str, Any]] = []
    moto = proxy = None
    if "aws" in clouds:
        from moto.server import ThreadedMotoServer

        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        moto.start()
        host, port = moto.get_host_and_port()
        proxy = LatencyProxy((host, port))
        aws_res = aws_resources(f"http://{host}:{port}")
    try:
        _run_cases(clouds, sizes, latencies, args.runs, rows, proxy, aws_res if moto else {})
    finally:
        if proxy is not None:
            proxy.stop()
        if moto is not None:
            moto.stop()
    print(render(rows, args.runs))
    ok = bars(rows)
    return 0 if ok else 1


def _run_cases(clouds, sizes, latencies, runs, rows, proxy, aws_res) -> None:
    from checks.collect.live import Clients

    for cloud in clouds:
        for size in sizes:
            if cloud == "aws":
                import boto3

                os.environ["AWS_ENDPOINT_URL"] = proxy.url
                objs = aws_cluster(size, aws_res)
                kube = FakeKubeAPI(objs).start()
                clients = Clients(k8s=kube.api_client(), cloud={"aws": {"session": boto3.Session(region_name="us-east-1")}})

                def set_latency(ms: float, kube: FakeKubeAPI = kube, proxy: LatencyProxy = proxy) -> None:
                    kube.latency_ms = ms
                    proxy.latency_ms = ms

                def cloud_count(proxy: LatencyProxy = proxy) -> int:
                    return proxy.total

                def stop(kube: FakeKubeAPI = kube, clients: Any = clients) -> None:
                    clients.k8s.close()
                    kube.stop()
                    os.environ.pop("AWS_ENDPOINT_URL", None)
            else:
                from tencentcloud.common import credential

                from tests.fakes.tencent_api import FakeTencentAPI

                tc = FakeTencentAPI().start()
                objs = tencent_cluster(size, tc.cloud)
                kube = FakeKubeAPI(objs).start()
                clients = Clients(
                    k8s=kube.api_client(),
                    cloud={"tencent": {"credential": credential.Credential("AKIDbench", "bench-secret"),
                                       "region": "ap-guangzhou", "endpoint": tc.url}},
                )

                def set_latency(ms: float, kube: FakeKubeAPI = kube, tc: Any = tc) -> None:
                    kube.latency_ms = ms
                    tc.latency = ms / 1000.0

                def cloud_count(tc: Any = tc) -> int:
                    return tc.count()

                def stop(kube: FakeKubeAPI = kube, tc: Any = tc, clients: Any = clients) -> None:
                    clients.k8s.close()
                    kube.stop()
                    tc.stop()

            try:
                for ms in latencies:
                    set_latency(ms)
                    m = measure(kube, clients, runs, cloud_count)
                    m.update(cloud=cloud, size=size, latency=ms)
                    rows.append(m)
                    print(
                        f"  {cloud:7} {size:>6} pods {ms:>3.0f} ms/call: k8s {m['k8s']} {cloud} {m['cloud_server']} "
                        f"median {m['median_ms']:.0f} ms ({m['verdict']})",
                        file=sys.stderr,
                    )
            finally:
                stop()


def render(rows: list[dict[str, Any]], runs: int) -> str:
    lines = [
        f"One diagnosis of shop/web ({WEB_PODS} pods, an Ingress), probes off; median of {runs} runs after a warm-up run.",
        "",
        "| cloud | pods in cluster | added latency per call | Kubernetes calls | AWS calls | Tencent calls | each k8s kind read once | cluster-wide pod lists | wall time (median) | wall time (max) |",
        "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for r in rows:
        aws = r["cloud_server"] if r["cloud"] == "aws" else r["report"].get("aws", 0)
        tc = r["cloud_server"] if r["cloud"] == "tencent" else r["report"].get("tencent", 0)
        lines.append(
            f"| {r['cloud']} | {r['size']:,} | {r['latency']:.0f} ms | {r['k8s']} | {aws} | {tc} | "
            f"{'yes' if r['once'] else 'NO'} | {r['cluster_pod_lists']} | {r['median_ms']:.0f} ms | {r['max_ms']:.0f} ms |"
        )
    lines += ["", "Rerun: `.venv/bin/python bench/diagnose.py` (options: --runs N --sizes 100,1000 --latencies 0,50 --clouds aws,tencent)"]
    return "\n".join(lines)


def bars(rows: list[dict[str, Any]]) -> bool:
    problems = []
    for r in rows:
        case = f"{r['cloud']} {r['size']} pods {r['latency']:.0f} ms"
        if r["k8s"] > 12:
            problems.append(f"{case}: {r['k8s']} Kubernetes calls > 12")
        if not r["once"]:
            problems.append(f"{case}: a Kubernetes kind was read more than once")
        if r["cluster_pod_lists"]:
            problems.append(f"{case}: cluster-wide pod list")
        if r["report"].get("k8s") != r["k8s"]:
            problems.append(f"{case}: the report counts {r['report'].get('k8s')} Kubernetes calls, the server saw {r['k8s']}")
        if r["report"].get(r["cloud"]) != r["cloud_server"]:
            problems.append(f"{case}: the report counts {r['report'].get(r['cloud'])} {r['cloud']} calls, the server saw {r['cloud_server']}")
        if r["cloud"] == "aws" and r["cloud_server"] > 4 + 1:  # one target group
            problems.append(f"{case}: {r['cloud_server']} AWS calls > 4 + 1 per target group")
        if r["cloud"] == "tencent" and r["cloud_server"] > 4:
            problems.append(f"{case}: {r['cloud_server']} Tencent calls > 4")
        if r["latency"] >= 50 and r["median_ms"] >= 400:
            problems.append(f"{case}: {r['median_ms']:.0f} ms >= 400 ms")
    for cloud in {r["cloud"] for r in rows}:
        for lat in {r["latency"] for r in rows}:
            same = [r for r in rows if r["cloud"] == cloud and r["latency"] == lat]
            if len({(r["k8s"], r["cloud_server"]) for r in same}) > 1:
                problems.append(f"{cloud} {lat:.0f} ms: calls change with the cluster size")
    print()
    print("Bars: " + ("all met" if not problems else "NOT met:\n- " + "\n- ".join(problems)))
    return not problems


if __name__ == "__main__":
    sys.exit(main())
