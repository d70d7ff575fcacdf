"""Bench: a live `lbhealth diagnose` process against the seed article's kubectl sequence.

Both run against the same fake Kubernetes API (tests/fakes/kube_api.py) with 50 ms added to
every call, the scenario of bench/diagnose.py (shop/web behind an ALB, 1,000 pods in the
cluster); lbhealth also reads the ALB from moto's server behind a 50 ms latency proxy.

- lbhealth: `lbhealth diagnose shop/web --no-probe` (text report) as a fresh process (cold
  imports, kubeconfig loading, every API call), the way an engineer runs it. Python modules are
  byte-compiled once first, as `pip install` does for an installed package.
- kubectl: the read-only commands of the seed articles (000: "kubectl get service -o yaml",
  endpoints, describe, logs, --previous; 001-003: get pod, --show-labels, the jsonpath
  queries, describe svc/ing, get endpoints, the controller's logs, -o wide), each a fresh
  `kubectl` process, run one after the other as a person would (typing time not counted).
  kubectl keeps its discovery cache warm (a first untimed pass fills it), which favours kubectl.
  The `edit`, `run` and `rollout restart` steps change the cluster and are left out; the
  article's AWS CLI steps are not counted either (lbhealth's AWS calls are).

Bar (issue 8): lbhealth's wall time <= 0.2x the kubectl sequence's.
Everything listens on, and is reached at, 127.0.0.1.

Run: .venv/bin/python bench/cold_start.py [--runs 5] [--latency 50]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import diagnose as scenario  # noqa: E402  (bench/diagnose.py: scenario builders, loopback-only env)

from tests import factories as f  # noqa: E402
from tests.fakes.kube_api import FakeKubeAPI  # noqa: E402

PODS = 1_000
BAR = 0.2
NS, SVC, POD = "shop", "web", "web-0"

# The seed articles' read-only kubectl commands, with the article's placeholders filled in.
KUBECTL_SEQUENCE: list[list[str]] = [
    ["get", "pod", "-n", NS],
    ["get", "pod", "-n", NS, "--show-labels"],
    ["get", "svc", SVC, "-n", NS, "-o=jsonpath={.spec.selector}{\"\\n\"}"],
    ["describe", "svc", SVC, "-n", NS],
    ["get", "endpoints", SVC, "-n", NS],
    ["get", "svc", SVC, "-n", NS, "-o=jsonpath={.spec.externalTrafficPolicy}{\"\\n\"}"],
    [
        "get", "svc", SVC, "-n", NS,
        "-o=jsonpath={.items[*]}{.metadata.name}{'\\t'}{.spec.ports[].targetPort}{'\\t'}{.spec.ports[].protocol}{'\\n'}",
    ],
    ["logs", "deploy/aws-load-balancer-controller", "-n", "kube-system"],
    ["describe", "ing", SVC, "-n", NS],
    ["get", "pod", "-n", NS, "-o", "wide"],
    ["get", "service", SVC, "-n", NS, "-o", "yaml"],
    ["get", "endpoints", SVC, "-n", NS, "-o", "yaml"],
    ["describe", "pod", POD, "-n", NS],
    ["logs", POD, "-n", NS],
    ["logs", POD, "-n", NS, "--previous"],
]


def cluster(aws_res: dict[str, str]) -> list[dict[str, Any]]:
    """bench/diagnose.py's AWS scenario plus the controller's pod, so `kubectl logs deploy/...` finds one."""
    lbc_pod = f.pod(
        "aws-load-balancer-controller-6d8f9b7c4-x2x9z",
        "kube-system",
        labels={"app.kubernetes.io/name": "aws-load-balancer-controller"},
        ip="127.3.0.1",
        containers=[f.container("controller", ports=[])],
    )
    objects = scenario.aws_cluster(PODS, aws_res)
    web = [o for o in objects if o["kind"] == "Pod" and o["metadata"]["namespace"] == NS and o["metadata"]["name"].startswith("web-")]
    endpoints = {  # the API server keeps the legacy Endpoints object beside the EndpointSlices
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": SVC, "namespace": NS},
        "subsets": [
            {
                "addresses": [{"ip": p["status"]["podIP"], "nodeName": p["spec"]["nodeName"]} for p in web],
                "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
            }
        ],
    }
    return [*objects, endpoints, lbc_pod]


def lbhealth_env(kubeconfig: str, aws_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TENCENTCLOUD_", "LBHEALTH_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed package has its .pyc files
    env.update(
        {
            "KUBECONFIG": kubeconfig,
            "AWS_ENDPOINT_URL": aws_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
    )
    return env


def child_cpu_ms() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (usage.ru_utime + usage.ru_stime) * 1000


def run_lbhealth(env: dict[str, str], command: list[str]) -> tuple[float, float, str]:
    """Wall and CPU time (ms) of one `lbhealth diagnose` process, and the first line of its report."""
    cmd = [*command, "diagnose", f"{NS}/{SVC}", "--no-probe"]
    t0, c0 = time.perf_counter(), child_cpu_ms()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    elapsed = (time.perf_counter() - t0) * 1000
    cpu = child_cpu_ms() - c0
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return elapsed, cpu, proc.stdout.split("\n", 1)[0]


def run_kubectl_sequence(kubectl: str, env: dict[str, str], cache_dir: str) -> tuple[float, list[int]]:
    codes = []
    t0 = time.perf_counter()
    for args in KUBECTL_SEQUENCE:
        proc = subprocess.run([kubectl, f"--cache-dir={cache_dir}", *args], env=env, capture_output=True, check=False)
        codes.append(proc.returncode)
    return (time.perf_counter() - t0) * 1000, codes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each side, median reported (default 5)")
    parser.add_argument("--latency", type=float, default=50.0, help="ms added to every API call (default 50)")
    parser.add_argument(
        "--command",
        default=str(Path(sys.executable).parent / "lbhealth"),
        help="the lbhealth command to time, split on spaces (default: this environment's console script)",
    )
    args = parser.parse_args(argv)
    command = args.command.split()
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise SystemExit("kubectl is not on PATH: install it (Debian: kubernetes-client or google-cloud-cli's kubectl)")
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    proxy = scenario.LatencyProxy((host, port), latency_ms=0)
    aws_res = scenario.aws_resources(f"http://{host}:{port}")
    kube = FakeKubeAPI(cluster(aws_res)).start()
    kube.set_log("kube-system", "aws-load-balancer-controller-6d8f9b7c4-x2x9z", "controller", "{\"level\":\"info\"}\n")
    tmp = tempfile.mkdtemp(prefix="lbhealth-cold-")
    try:
        kubeconfig = kube.write_kubeconfig(os.path.join(tmp, "kubeconfig"))
        env = lbhealth_env(kubeconfig, proxy.url)
        kube_env = {**env, "HOME": tmp}
        cache_dir = os.path.join(tmp, "kube-cache")
        run_kubectl_sequence(kubectl, kube_env, cache_dir)  # fills the discovery cache, untimed
        run_lbhealth(env, command)  # warms the OS file cache for the Python side too, untimed
        kube.latency_ms = proxy.latency_ms = args.latency
        lb_times, lb_cpu, kc_times = [], [], []
        headline = ""
        codes: list[int] = []
        for _ in range(args.runs):
            kube.reset_log()
            proxy.reset()
            ms, cpu, headline = run_lbhealth(env, command)
            lb_times.append(ms)
            lb_cpu.append(cpu)
            k8s_calls, aws_calls = kube.total, proxy.total
            kube.reset_log()
            ms, codes = run_kubectl_sequence(kubectl, kube_env, cache_dir)
            kc_times.append(ms)
            kubectl_calls = kube.total
    finally:
        kube.stop()
        proxy.stop()
        moto.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    lb, kc = statistics.median(lb_times), statistics.median(kc_times)
    version = subprocess.run([kubectl, "version", "--client"], capture_output=True, text=True, check=False).stdout.split("\n")[0]
    print(
        f"shop/web, {PODS:,} pods in the cluster, {args.latency:.0f} ms added to every API call; median of {args.runs} runs "
        f"(load {os.getloadavg()[0]:.1f}); lbhealth used {statistics.median(lb_cpu):,.0f} ms of CPU (median)."
    )
    print()
    print("| what | processes | API calls | wall time (median) |")
    print("|---|---:|---:|---:|")
    print(
        f"| `lbhealth diagnose shop/web --no-probe` (\"{headline[:60]}\") | 1 | k8s {k8s_calls}, AWS {aws_calls} "
        f"| {lb:,.0f} ms |"
    )
    failed = sum(1 for c in codes if c)
    print(f"| the seed article's kubectl sequence ({version}; {failed} of {len(codes)} exited non-zero) | {len(codes)} | k8s {kubectl_calls} | {kc:,.0f} ms |")
    print()
    ratio = lb / kc
    print(f"lbhealth / kubectl = {ratio:.2f}x (all lbhealth runs: {', '.join(f'{t:.0f}' for t in lb_times)} ms)")
    print(f"Rerun: `.venv/bin/python bench/cold_start.py --runs {args.runs} --latency {args.latency:.0f}`")
    ok = ratio <= BAR
    print(f"Bar (<= {BAR}x the kubectl sequence): " + ("met" if ok else "NOT met"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
