"""Bench: `lbhealth diagnose --from` on a bundled scenario, small and with a whole cluster's pods.

The small dump is `examples/targetport-mismatch` as it is (shop/web, 2 pods, AWS CLI output).
The large one is the same directory plus `kubectl get pods -A -o json` (or `-o yaml`) of a
cluster with N pods in 100-pod namespaces, each pod in the shape kubectl prints (owner
references, resources, env, the projected service-account volume, tolerations, container
statuses; no managedFields, which kubectl hides by default): about 3.5 kB of JSON per pod.

Each case runs the real `lbhealth` console script as a fresh process (what a support engineer
runs), `--format json`, and reports the median wall time of a few runs, plus the verdict so
that a faster wrong answer cannot pass. Bar (issue 8): a 10,000-pod dump costs at most 4x the
small one, JSON and YAML.

Run: .venv/bin/python bench/dump_size.py [--pods 10000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
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
SCENARIO = ROOT / "examples" / "targetport-mismatch"
TARGET = "shop/web"
PODS_PER_NAMESPACE = 100
BAR = 4.0


def cluster_pod(i: int) -> dict[str, Any]:
    """One pod of another team, in the shape `kubectl get pods -A -o json` prints."""
    ns = f"team-{i // PODS_PER_NAMESPACE:03d}"
    app = f"app-{(i % PODS_PER_NAMESPACE) // 10}"
    name = f"{app}-7d9f8c6b5-{i:05d}"
    ip = f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
    node = f"ip-10-0-{(i // 50) % 250}-{i % 200}.ec2.internal"
    started = "2026-11-19T08:12:44Z"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "creationTimestamp": started,
            "generateName": f"{app}-7d9f8c6b5-",
            "labels": {"app": app, "pod-template-hash": "7d9f8c6b5", "team": ns},
            "name": name,
            "namespace": ns,
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "blockOwnerDeletion": True,
                    "controller": True,
                    "kind": "ReplicaSet",
                    "name": f"{app}-7d9f8c6b5",
                    "uid": f"0b1c2d3e-4f50-6172-8394-{i:012x}",
                }
            ],
            "resourceVersion": str(100000 + i),
            "uid": f"1a2b3c4d-5e6f-7081-92a3-{i:012x}",
        },
        "spec": {
            "containers": [
                {
                    "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "PORT", "value": "8080"}],
                    "image": f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{app}:1.4.{i % 7}",
                    "imagePullPolicy": "IfNotPresent",
                    "name": "app",
                    "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
                    "readinessProbe": {
                        "failureThreshold": 3,
                        "httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"},
                        "periodSeconds": 10,
                        "successThreshold": 1,
                        "timeoutSeconds": 1,
                    },
                    "resources": {"limits": {"memory": "256Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}},
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File",
                    "volumeMounts": [
                        {
                            "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                            "name": f"kube-api-access-{i % 99999:05d}",
                            "readOnly": True,
                        }
                    ],
                }
            ],
            "dnsPolicy": "ClusterFirst",
            "enableServiceLinks": True,
            "nodeName": node,
            "preemptionPolicy": "PreemptLowerPriority",
            "priority": 0,
            "restartPolicy": "Always",
            "schedulerName": "default-scheduler",
            "securityContext": {},
            "serviceAccount": "default",
            "serviceAccountName": "default",
            "terminationGracePeriodSeconds": 30,
            "tolerations": [
                {"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists", "tolerationSeconds": 300},
                {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 300},
            ],
            "volumes": [
                {
                    "name": f"kube-api-access-{i % 99999:05d}",
                    "projected": {
                        "defaultMode": 420,
                        "sources": [
                            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                            {"configMap": {"items": [{"key": "ca.crt", "path": "ca.crt"}], "name": "kube-root-ca.crt"}},
                            {
                                "downwardAPI": {
                                    "items": [
                                        {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}, "path": "namespace"}
                                    ]
                                }
                            },
                        ],
                    },
                }
            ],
        },
        "status": {
            "conditions": [
                {"lastProbeTime": None, "lastTransitionTime": started, "status": "True", "type": t}
                for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
            ],
            "containerStatuses": [
                {
                    "containerID": f"containerd://{i:064x}",
                    "image": f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{app}:1.4.{i % 7}",
                    "imageID": f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{app}@sha256:{i:064x}",
                    "lastState": {},
                    "name": "app",
                    "ready": True,
                    "restartCount": 0,
                    "started": True,
                    "state": {"running": {"startedAt": started}},
                }
            ],
            "hostIP": f"10.0.{(i // 50) % 250}.{i % 200}",
            "phase": "Running",
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "qosClass": "Burstable",
            "startTime": started,
        },
    }


def write_cluster_dump(directory: Path, pods: int, fmt: str) -> Path:
    """The scenario's files plus every pod of the cluster as one List, the way kubectl prints it."""
    shutil.copytree(SCENARIO, directory)
    doc = {"apiVersion": "v1", "items": [cluster_pod(i) for i in range(pods)], "kind": "List", "metadata": {"resourceVersion": ""}}
    if fmt == "json":
        path = directory / "kubectl-get-pods-A.json"
        path.write_text(json.dumps(doc, indent=4) + "\n")
    else:
        import yaml

        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
        path = directory / "kubectl-get-pods-A.yaml"
        path.write_text(yaml.dump(doc, Dumper=dumper, default_flow_style=False, sort_keys=True))
    return path


def lbhealth_command() -> list[str]:
    script = Path(sys.executable).parent / "lbhealth"
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]


def child_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_diagnose(source: Path, runs: int) -> tuple[float, float, str]:
    """Median wall and CPU time (ms) of a fresh `lbhealth diagnose --from` process, and its verdict.

    CPU time (user + system) does not depend on what else runs on the machine; wall time does.
    """
    cmd = [*lbhealth_command(), "diagnose", TARGET, "--from", str(source), "--format", "json"]
    times, cpu, verdict = [], [], ""
    for _ in range(runs):
        t0, c0 = time.perf_counter(), child_cpu_s()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((child_cpu_s() - c0) * 1000)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr[-2000:]}")
        data = json.loads(proc.stdout)
        verdict = f"{data['verdict']['status']} {data['verdict']['check_id'] or ''}".strip()
    return statistics.median(times), statistics.median(cpu), verdict


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pods", type=int, default=10_000, help="pods in the large dump (default 10000)")
    parser.add_argument("--runs", type=int, default=3, help="processes per case, median reported (default 3)")
    parser.add_argument("--formats", default="json,yaml", help="json, yaml or both (default json,yaml)")
    args = parser.parse_args(argv)
    small_ms, small_cpu, small_verdict = time_diagnose(SCENARIO, args.runs)
    rows = [("small (the example as is)", "-", "-", small_ms, small_cpu, small_verdict, None, None)]
    with tempfile.TemporaryDirectory(prefix="lbhealth-dump-") as tmp:
        for fmt in [f.strip() for f in args.formats.split(",") if f.strip()]:
            directory = Path(tmp) / fmt
            path = write_cluster_dump(directory, args.pods, fmt)
            size_mb = path.stat().st_size / 1e6
            ms, cpu, verdict = time_diagnose(directory, args.runs)
            rows.append(
                (f"+ {args.pods:,} pods, kubectl -o {fmt}", fmt, f"{size_mb:.1f} MB", ms, cpu, verdict, ms / small_ms, cpu / small_cpu)
            )
    load = os.getloadavg()[0]
    print(f"`lbhealth diagnose {TARGET} --from DIR --format json` as a fresh process, median of {args.runs} runs (load {load:.1f}).")
    print()
    print("| dump | pods file | wall time (median) | x small | CPU time (median) | x small | verdict |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, _fmt, size, ms, cpu, verdict, ratio, cpu_ratio in rows:
        wall_x = "" if ratio is None else f"{ratio:.1f}x"
        cpu_x = "" if cpu_ratio is None else f"{cpu_ratio:.1f}x"
        print(f"| {name} | {size} | {ms:,.0f} ms | {wall_x} | {cpu:,.0f} ms | {cpu_x} | {verdict} |")
    print()
    print(f"Rerun: `.venv/bin/python bench/dump_size.py --pods {args.pods} --runs {args.runs}`")
    verdicts = {r[5] for r in rows}
    problems = [f"{r[0]}: {r[6]:.1f}x > {BAR:.0f}x" for r in rows if r[6] is not None and r[6] > BAR]
    if len(verdicts) > 1:
        problems.append(f"the verdict changes with the dump's size: {sorted(verdicts)}")
    print("Bar (<= 4x the small dump, same verdict): " + ("met" if not problems else "NOT met: " + "; ".join(problems)))
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
