"""Render deploy/helm/lbhealth with Helm's own engine (helm-python-sdk binds Helm's Go SDK: no
helm binary) for the default values and each scenario deploy/README.md documents."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "lbhealth"
RELEASE, NAMESPACE = "lbhealth", "lbhealth"

# The scenarios of deploy/README.md and values.yaml's comments, each as the values a person would write.
SCENARIOS: dict[str, dict[str, Any]] = {
    "default": {},
    "bundled-redis": {
        "slack": {"botToken": "xoxb-1-2-3", "signingSecret": "s3cr3t"},
        "redis": {"mode": "bundled", "bundled": {"persistence": {"size": "2Gi", "storageClass": "gp3"}}},
        "worker": {"autoscaling": {"keda": {"enabled": True}}},
    },
    "external-redis": {
        "redis": {
            "mode": "external",
            "external": {
                "url": "rediss://lbhealth@redis.internal.example:6380/0",
                "passwordSecret": "lbhealth-redis-acl",
                "tls": {"caSecret": "lbhealth-redis-ca"},
                "sentinel": {"hosts": ["sentinel-0.example:26379", "sentinel-1.example:26379"], "masterName": "lbhealth",
                             "tls": True, "passwordSecret": "lbhealth-sentinel"},
                "cidrs": ["10.20.0.0/16"],
                "port": 6380,
            },
        },
        "worker": {"autoscaling": {"hpa": {"enabled": True, "metric": "queue"}}},
    },
    "irsa": {
        "aws": {
            "workerRoleArn": "arn:aws:iam::111122223333:role/lbhealth-read",
            "writerRoleArn": "arn:aws:iam::111122223333:role/lbhealth-write",
        },
        "fixes": {"enabled": True, "namespaces": ["shop"], "cloudWrites": True},
        "ingress": {"enabled": True, "className": "alb", "host": "lbhealth.example.com", "tls": {"secretName": "lbhealth-tls"}},
        "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}}},
    },
    "tencent": {
        "config": {"clusters": [{"name": "tke-prod", "default": True, "cloud": "tencent", "region": "ap-guangzhou"}],
                   "alarm_channel": "C0123ABCD"},
        "tencent": {"enabled": True, "region": "ap-guangzhou", "existingSecret": "lbhealth-tencent",
                    "writerExistingSecret": "lbhealth-tencent-write"},
        "webhooks": {"existingSecret": "lbhealth-webhooks"},
        "slack": {"existingSecret": "lbhealth-slack-app"},
    },
    "fixes-on": {
        "config": {"approvers": ["U0123ABCD", "S0456EFGH"], "enabled_fixes": ["FIX-TARGETPORT"]},
        "fixes": {"enabled": True, "namespaces": ["shop", "payments"], "kubeProxy": True},
    },
    "node-checks-on": {"nodeChecks": {"enabled": True, "namespace": "lbhealth-node"}},
}


@lru_cache(maxsize=1)
def chart() -> helm.Chart:
    return helm.Chart.load(CHART)


@lru_cache(maxsize=32)
def _render(key: str) -> tuple[tuple[str, str], ...]:
    values = yaml.safe_load(key)
    out = chart().render(values=values or None, name=RELEASE, namespace=NAMESPACE, is_install=True)
    return tuple(sorted(out.items()))


def render(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every object the chart renders for `values` (NOTES.txt and empty documents left out)."""
    docs: list[dict[str, Any]] = []
    for path, text in _render(yaml.safe_dump(values or {}, sort_keys=True)):
        if path.endswith("NOTES.txt"):
            continue
        docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs


def notes(values: dict[str, Any] | None = None) -> str:
    return next(text for path, text in _render(yaml.safe_dump(values or {}, sort_keys=True)) if path.endswith("NOTES.txt"))


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def named(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (doc,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def pod_specs(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """name -> pod spec of every workload."""
    return {d["metadata"]["name"]: d["spec"]["template"]["spec"] for d in docs if d["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job")}


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def container_env(values: dict[str, Any] | None, deployment: str = "lbhealth-worker") -> dict[str, Any]:
    """The environment of the first container of a rendered Deployment."""
    return env_of(named(render(values), "Deployment", deployment)["spec"]["template"]["spec"]["containers"][0])
