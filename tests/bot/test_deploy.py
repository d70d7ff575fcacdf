"""deploy/: the Slack manifest, RBAC and cloud policies say what the bot needs, and only that."""

from __future__ import annotations

import json

import yaml

from tests.bot.conftest import ROOT

DEPLOY = ROOT / "deploy"


def test_slack_manifest_has_the_command_and_scopes():
    m = yaml.safe_load((DEPLOY / "slack-app-manifest.yaml").read_text())
    (cmd,) = m["features"]["slash_commands"]
    assert cmd["command"] == "/lbhealth" and cmd["url"].endswith("/slack/events")
    assert set(m["oauth_config"]["scopes"]["bot"]) == {"commands", "chat:write", "chat:write.public", "files:write"}
    assert m["settings"]["interactivity"]["is_enabled"] is True
    assert m["settings"]["interactivity"]["request_url"].endswith("/slack/events")


def test_rbac_reads_what_the_diagnosis_reads():
    docs = list(yaml.safe_load_all((DEPLOY / "k8s" / "rbac.yaml").read_text()))
    (read,) = [d for d in docs if d["kind"] == "ClusterRole" and d["metadata"]["name"] == "lbhealth-read"]
    assert {v for r in read["rules"] for v in r["verbs"]} == {"get", "list"}
    granted = {(g, res) for r in read["rules"] for g in r["apiGroups"] for res in r["resources"]}
    for needed in [("", "services"), ("", "endpoints"), ("", "pods"), ("", "pods/log"), ("", "nodes"), ("", "events"),
                   ("discovery.k8s.io", "endpointslices"), ("networking.k8s.io", "ingresses"),
                   ("networking.k8s.io", "networkpolicies"), ("apps", "daemonsets"), ("apps", "deployments"),
                   ("elbv2.k8s.aws", "targetgroupbindings")]:
        assert needed in granted, needed
    assert not {res for _, res in granted} & {"configmaps", "secrets"}  # configmaps: kube-system only
    (config_role,) = [d for d in docs if d["kind"] == "Role" and d["metadata"]["name"] == "lbhealth-read-config"]
    assert config_role["metadata"]["namespace"] == "kube-system"
    assert config_role["rules"] == [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]


def test_cloud_policies_read_only():
    iam = json.loads((DEPLOY / "iam-policy.json").read_text())
    actions = [a for s in iam["Statement"] for a in s["Action"]]
    reads = [a for a in actions if a.startswith(("elasticloadbalancing:", "ec2:"))]
    assert reads and all(a.split(":")[1].startswith("Describe") for a in reads)
    cam = json.loads((DEPLOY / "cam-policy.json").read_text())
    assert all(a.split(":")[1].startswith("Describe") for s in cam["statement"] for a in s["action"])


def test_manifests_run_serve_and_worker_with_probes():
    docs = {d["metadata"]["name"]: d for d in yaml.safe_load_all((DEPLOY / "k8s" / "lbhealth.yaml").read_text())}
    serve = docs["lbhealth-serve"]["spec"]["template"]["spec"]["containers"][0]
    assert serve["args"][0] == "serve"
    assert serve["readinessProbe"]["httpGet"]["path"] == "/readyz"
    worker = docs["lbhealth-worker"]["spec"]["template"]["spec"]
    assert worker["containers"][0]["args"][:1] == ["worker"]
    assert worker["terminationGracePeriodSeconds"] > 120  # the job timeout: warm shutdown can finish
    assert "redis" in docs
    assert "ENTRYPOINT [\"lbhealth\"]" in (DEPLOY / "Dockerfile").read_text()
