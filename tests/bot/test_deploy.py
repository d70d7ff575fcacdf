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


def test_rbac_is_read_only():
    docs = list(yaml.safe_load_all((DEPLOY / "k8s" / "rbac.yaml").read_text()))
    rules = [r for d in docs if d["kind"] in ("ClusterRole", "Role") for r in d["rules"]]
    assert {v for r in rules for v in r["verbs"]} == {"get", "list"}
    granted = {(g, res) for r in rules for g in r["apiGroups"] for res in r["resources"]}
    for needed in [("", "services"), ("", "endpoints"), ("", "pods"), ("", "pods/log"), ("", "nodes"), ("", "events"),
                   ("discovery.k8s.io", "endpointslices"), ("networking.k8s.io", "ingresses"),
                   ("networking.k8s.io", "networkpolicies"), ("apps", "daemonsets"), ("apps", "deployments"),
                   ("elbv2.k8s.aws", "targetgroupbindings"), ("", "configmaps")]:
        assert needed in granted, needed
    (config_role,) = [d for d in docs if d["kind"] == "Role"]
    assert config_role["metadata"]["namespace"] == "kube-system"
    cluster_wide = {res for d in docs if d["kind"] == "ClusterRole" for r in d["rules"] for res in r["resources"]}
    assert "configmaps" not in cluster_wide and "secrets" not in cluster_wide


def test_cloud_policies_only_describe():
    iam = json.loads((DEPLOY / "iam-policy.json").read_text())
    actions = [a for s in iam["Statement"] for a in s["Action"]]
    assert all(a.split(":")[1].startswith("Describe") for a in actions)
    assert "elasticloadbalancing:Describe*" in actions
    for a in ("SecurityGroups", "Subnets", "NetworkAcls", "RouteTables", "Instances", "Vpcs", "DhcpOptions"):
        assert f"ec2:Describe{a}" in actions
    cam = json.loads((DEPLOY / "cam-policy.json").read_text())
    assert [a for s in cam["statement"] for a in s["action"]] == ["clb:Describe*", "vpc:Describe*", "cvm:DescribeInstances"]


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
