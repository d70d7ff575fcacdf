"""deploy/helm/lbhealth: rendered by Helm's engine, linted, validated against the Kubernetes schemas
of the versions EKS and TKE run, and safe by default."""

from __future__ import annotations

import json
import re
import tomllib
import typing
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml
from pydantic import BaseModel

from bot.settings import FIX_IDS, FileConfig, load_file_config
from checks.collect.node import reader_pod
from checks.collect.probe import ALLOW_ENV, allow_list
from checks.model import Target
from checks.state import State
from tests.deploy.chart import CHART, ROOT, SCENARIOS, env_of, named, notes, of_kind, pod_specs, render

# Kubernetes minor versions in EKS's and TKE's standard and extended support at the time of writing
# (EKS 1.29-1.34, TKE 1.26-1.32): the chart must be valid on each.
KUBE_VERSIONS = ("1.26", "1.28", "1.30", "1.32", "1.34")
# Custom resources: no upstream schema exists for them in kubernetes-validate.
CRD_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor"), ("keda.sh/v1alpha1", "ScaledObject"),
             ("keda.sh/v1alpha1", "TriggerAuthentication")}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_lint_is_clean(scenario):
    report = helm.lint(CHART, SCENARIOS[scenario] or None, strict=True, namespace="lbhealth", kube_version="v1.30.0")
    problems = [m for m in report["messages"] if m["severity"] >= 2]  # 2 warning, 3 error
    assert report["errors"] == [] and problems == [], report


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_object_is_valid_on_every_supported_kubernetes(scenario):
    docs = render(SCENARIOS[scenario])
    assert docs
    for doc in docs:
        if (doc["apiVersion"], doc["kind"]) in CRD_KINDS:
            assert doc["metadata"]["name"] and doc["spec"]
            continue
        for version in KUBE_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{doc['kind']}/{doc['metadata']['name']} is invalid on Kubernetes {version}: {exc.message} at {list(exc.path)}")


def test_values_schema_rejects_what_would_break_an_install():
    chart = helm.Chart.load(CHART)
    chart.validate_schema({})
    bad = [
        {"config": {"alarm_channel": "#incidents"}},  # the API needs a channel ID
        {"slack": {"botToken": "xoxp-user-token"}},  # a user token: the bot needs its own (xoxb-)
        {"redis": {"mode": "sentinel"}},
        {"redis": {"external": {"url": "http://redis:6379"}}},
        {"aws": {"workerRoleArn": "lbhealth-read"}},
        {"fixes": {"namespaces": ["Shop_Prod"]}},
        {"serve": {"replicas": 0}},
        {"unknown": True},
    ]
    for values in bad:
        with pytest.raises(helm.HelmValuesError):
            chart.validate_schema(values)


def test_tencent_needs_a_credentials_secret():
    with pytest.raises(helm.HelmError, match="tencent.existingSecret is required"):
        render({"tencent": {"enabled": True}})


def test_external_redis_needs_a_url():
    with pytest.raises(helm.HelmError, match="redis.external.url is required"):
        render({"redis": {"mode": "external"}})


def test_defaults_grant_no_write_and_no_node_reader():
    docs = render()
    names = {d["metadata"]["name"] for d in docs}
    assert "lbhealth-node-reader" not in names and not [n for n in names if "writer" in n]
    verbs = {v for role in of_kind(docs, "ClusterRole") + of_kind(docs, "Role") for rule in role["rules"] for v in rule["verbs"]}
    assert verbs == {"get", "list"}
    assert {d["metadata"]["name"] for d in of_kind(docs, "ServiceAccount")} == {"lbhealth-serve", "lbhealth-worker", "lbhealth-redis"}


def test_each_process_has_its_own_service_account():
    docs = render(SCENARIOS["fixes-on"])
    pods = pod_specs(docs)
    assert pods["lbhealth-serve"]["serviceAccountName"] == "lbhealth-serve"
    assert pods["lbhealth-worker"]["serviceAccountName"] == "lbhealth-worker"
    bound = {(b["roleRef"]["name"], s["name"]) for b in of_kind(docs, "ClusterRoleBinding") + of_kind(docs, "RoleBinding") for s in b["subjects"]}
    assert {sa for role, sa in bound if "writer" in role} == {"lbhealth-writer"}
    assert {sa for role, sa in bound if role.endswith(("-read", "-read-system"))} == {"lbhealth-worker", "lbhealth-writer"}
    writer = pods["lbhealth-writer"]
    assert writer["serviceAccountName"] == "lbhealth-writer" and writer["containers"][0]["args"] == ["worker", "--queue", "lbhealth-fixes"]
    for name in ("lbhealth-serve", "lbhealth-worker", "lbhealth-writer"):  # every enqueuer and the writer agree on the queue
        assert env_of(pods[name]["containers"][0])["LBHEALTH_FIX_QUEUE"] == "lbhealth-fixes", name
    assert "LBHEALTH_FIX_QUEUE" not in env_of(pod_specs(render())["lbhealth-worker"]["containers"][0])
    assert "lbhealth-serve" not in {sa for _role, sa in bound}  # serve reads nothing: the workers map alarms


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_serve_is_bound_to_no_role_and_has_no_token(scenario):
    """serve is internet-facing: its ServiceAccount is the subject of no RoleBinding or ClusterRoleBinding
    (the default values, and every documented scenario), and neither it nor its pod mounts a token."""
    docs = render(SCENARIOS[scenario])
    bindings = of_kind(docs, "ClusterRoleBinding") + of_kind(docs, "RoleBinding")
    assert bindings, "the chart binds the worker's roles: the check below looks at real bindings"
    serve_bound = [b["metadata"]["name"] for b in bindings
                   if any(s.get("kind") == "ServiceAccount" and s.get("name") == "lbhealth-serve" for s in b["subjects"])]
    assert serve_bound == []
    [account] = [a for a in of_kind(docs, "ServiceAccount") if a["metadata"]["name"] == "lbhealth-serve"]
    assert account["automountServiceAccountToken"] is False
    serve = pod_specs(docs)["lbhealth-serve"]
    assert serve["automountServiceAccountToken"] is False
    env = env_of(serve["containers"][0])
    assert not {"TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY"} & set(env)  # no cloud keys either


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_pod_is_locked_down(scenario):
    for name, spec in pod_specs(render(SCENARIOS[scenario])).items():
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] != 0, name
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for c in spec["containers"] + spec.get("initContainers", []):
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True, (name, c["name"])
            assert sc["capabilities"]["drop"] == ["ALL"] and not sc.get("capabilities", {}).get("add"), (name, c["name"])
            assert c["resources"]["requests"] and c["resources"]["limits"]["memory"], (name, c["name"])


def test_node_reader_pods_are_locked_down_but_for_running_as_root():
    """The pods node checks start (checks/collect/node.py) are the code's, not the chart's: held here
    to the same rules, with the one exception iptables-save needs (uid 0, for NET_ADMIN/NET_RAW)."""
    pod = reader_pod("node-1", namespace="lbhealth-node")
    spec = pod["spec"]
    assert spec["securityContext"] == {"runAsUser": 0, "runAsNonRoot": False, "seccompProfile": {"type": "RuntimeDefault"}}
    assert spec["automountServiceAccountToken"] is False and "volumes" not in spec and "hostPID" not in spec
    (c,) = spec["containers"]
    sc = c["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True and sc["privileged"] is False
    assert sc["capabilities"] == {"drop": ["ALL"], "add": ["NET_ADMIN", "NET_RAW"]}
    assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]
    for version in KUBE_VERSIONS:
        kubernetes_validate.validate(pod, version, strict=True)


def test_serve_and_worker_probes_disruption_and_warm_shutdown():
    docs = render({"worker": {"jobTimeout": 300}})
    serve = named(docs, "Deployment", "lbhealth-serve")
    assert serve["spec"]["replicas"] == 2
    (c,) = serve["spec"]["template"]["spec"]["containers"]
    assert c["args"][0] == "serve"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz" and c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    pdb = named(docs, "PodDisruptionBudget", "lbhealth-serve")
    assert pdb["spec"]["selector"]["matchLabels"] == serve["spec"]["selector"]["matchLabels"]
    assert pdb["spec"]["minAvailable"] == 1 < serve["spec"]["replicas"]  # a drain can always take one
    assert not of_kind(render({"serve": {"replicas": 1}}), "PodDisruptionBudget")  # it would block every drain
    with pytest.raises(helm.HelmError, match="minAvailable must be below serve.replicas"):
        render({"serve": {"replicas": 2, "podDisruptionBudget": {"minAvailable": 2}}})
    assert named(render({"serve": {"replicas": 3, "podDisruptionBudget": {"minAvailable": "50%"}}}),
                 "PodDisruptionBudget", "lbhealth-serve")["spec"]["minAvailable"] == "50%"
    worker = named(docs, "Deployment", "lbhealth-worker")["spec"]["template"]["spec"]
    assert worker["containers"][0]["args"][:1] == ["worker"]
    assert env_of(worker["containers"][0])["LBHEALTH_JOB_TIMEOUT"] == "300"
    assert worker["terminationGracePeriodSeconds"] > 300  # rq's warm shutdown finishes the job in hand


def test_bundled_redis_persists_has_a_password_and_admits_only_lbhealth():
    docs = render(SCENARIOS["bundled-redis"])
    redis = named(docs, "StatefulSet", "lbhealth-redis")
    (c,) = redis["spec"]["template"]["spec"]["containers"]
    assert "--appendonly yes" in c["args"][0] and '--requirepass "$REDIS_PASSWORD"' in c["args"][0]
    assert env_of(c)["REDIS_PASSWORD"]["secretKeyRef"] == {"name": "lbhealth-redis", "key": "password"}
    assert redis["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "gp3"
    secret = named(docs, "Secret", "lbhealth-redis")
    assert len(secret["data"]["password"]) >= 40  # 32 random characters, base64
    policy = named(docs, "NetworkPolicy", "lbhealth-redis")
    (rule,) = policy["spec"]["ingress"]
    client_selector = rule["from"][0]["podSelector"]["matchLabels"]
    for name in ("lbhealth-serve", "lbhealth-worker"):
        labels = named(docs, "Deployment", name)["spec"]["template"]["metadata"]["labels"]
        assert client_selector.items() <= labels.items(), name
        env = named(docs, "Deployment", name)["spec"]["template"]["spec"]["containers"][0]["env"]
        names = [e["name"] for e in env]
        assert names.index("REDIS_PASSWORD") < names.index("REDIS_URL")  # the kubelet expands $(REDIS_PASSWORD) only then
        assert env[names.index("REDIS_URL")]["value"] == "redis://:$(REDIS_PASSWORD)@lbhealth-redis:6379/0"
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "keda"}}} in rule["from"]  # KEDA scales on
    scaled = named(docs, "ScaledObject", "lbhealth-worker")
    assert scaled["spec"]["triggers"][0]["metadata"]["listName"] == "rq:queue:lbhealth"


def test_bundled_redis_with_a_password_secret_of_ones_own():
    """GitOps renders (helm template) cannot look up the generated Secret: they name their own."""
    docs = render({"redis": {"bundled": {"existingSecret": "my-redis"}}, "worker": {"autoscaling": {"keda": {"enabled": True}}}})
    assert not [d for d in of_kind(docs, "Secret") if "redis" in d["metadata"]["name"]]
    refs = [env_of(spec["containers"][0])["REDIS_PASSWORD"]["secretKeyRef"] for spec in pod_specs(docs).values()]
    assert refs == [{"name": "my-redis", "key": "password"}] * 3  # serve, worker, redis itself
    assert named(docs, "TriggerAuthentication", "lbhealth-redis")["spec"]["secretTargetRef"][0]["name"] == "my-redis"


def test_external_redis_with_tls_acl_user_and_sentinel():
    docs = render(SCENARIOS["external-redis"])
    assert not of_kind(docs, "StatefulSet")
    env = env_of(named(docs, "Deployment", "lbhealth-worker")["spec"]["template"]["spec"]["containers"][0])
    assert env["REDIS_URL"].startswith("rediss://lbhealth@")
    assert env["REDIS_PASSWORD"]["secretKeyRef"] == {"name": "lbhealth-redis-acl", "key": "password"}
    assert env["LBHEALTH_REDIS_SENTINELS"] == "sentinel-0.example:26379,sentinel-1.example:26379"
    assert env["LBHEALTH_REDIS_SENTINEL_MASTER"] == "lbhealth" and env["LBHEALTH_REDIS_SENTINEL_TLS"] == "true"
    assert env["LBHEALTH_REDIS_SENTINEL_PASSWORD"]["secretKeyRef"] == {"name": "lbhealth-sentinel", "key": "password"}
    egress = named(docs, "NetworkPolicy", "lbhealth-worker")["spec"]["egress"]
    assert {"ports": [{"port": 6380, "protocol": "TCP"}, {"port": 26379, "protocol": "TCP"}], "to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}]} in egress
    # each Sentinel's own port is opened, once
    sentinels = {"hosts": ["a.example:26379", "b.example:26380", "c.example:26379"]}
    ports = render({"redis": {"mode": "external", "external": {"url": "redis://r.example:6379/0", "sentinel": sentinels}}})
    (rule,) = [r for r in named(ports, "NetworkPolicy", "lbhealth-worker")["spec"]["egress"] if {"port": 6379, "protocol": "TCP"} in r.get("ports", [])]
    assert [p["port"] for p in rule["ports"]] == [6379, 26379, 26380] and "to" not in rule


def test_irsa_annotations_and_the_public_endpoints():
    docs = render(SCENARIOS["irsa"])
    role = {sa["metadata"]["name"]: sa["metadata"].get("annotations", {}).get("eks.amazonaws.com/role-arn") for sa in of_kind(docs, "ServiceAccount")}
    assert role["lbhealth-worker"] == "arn:aws:iam::111122223333:role/lbhealth-read"
    assert role["lbhealth-serve"] is None  # serve reads nothing; only aws.serveRoleArn (ConfirmSubscription) gives it a role
    confirm = render({**SCENARIOS["irsa"], "aws": {**SCENARIOS["irsa"]["aws"], "serveRoleArn": "arn:aws:iam::111122223333:role/lbhealth-sns"}})
    assert named(confirm, "ServiceAccount", "lbhealth-serve")["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/lbhealth-sns"}
    assert role["lbhealth-writer"] == "arn:aws:iam::111122223333:role/lbhealth-write"
    ingress = named(docs, "Ingress", "lbhealth")
    paths = {p["path"] for p in ingress["spec"]["rules"][0]["http"]["paths"]}
    assert paths == {"/slack/events", "/webhooks"}  # never /metrics
    assert ingress["spec"]["tls"] == [{"hosts": ["lbhealth.example.com"], "secretName": "lbhealth-tls"}]
    assert named(docs, "ServiceMonitor", "lbhealth")["spec"]["endpoints"][0]["path"] == "/metrics"
    assert "https://lbhealth.example.com/slack/events" in notes(SCENARIOS["irsa"])


def test_tencent_credentials_come_from_secrets():
    docs = render(SCENARIOS["tencent"])
    worker = env_of(named(docs, "Deployment", "lbhealth-worker")["spec"]["template"]["spec"]["containers"][0])
    assert worker["TENCENTCLOUD_SECRET_ID"]["secretKeyRef"] == {"name": "lbhealth-tencent", "key": "TENCENTCLOUD_SECRET_ID"}
    assert worker["TENCENTCLOUD_SECRET_KEY"]["secretKeyRef"]["name"] == "lbhealth-tencent"
    serve = named(docs, "Deployment", "lbhealth-serve")["spec"]["template"]["spec"]["containers"][0]
    assert [s["secretRef"]["name"] for s in serve["envFrom"]] == ["lbhealth-slack-app", "lbhealth-webhooks"]
    assert not of_kind(docs, "Secret") or {s["metadata"]["name"] for s in of_kind(docs, "Secret")} == {"lbhealth-redis"}
    config = named(docs, "ConfigMap", "lbhealth-config")["data"]["lbhealth.yaml"]
    assert "alarm_channel: C0123ABCD" in config and "cloud: tencent" in config


def test_worker_probes_only_the_allow_list(monkeypatch):
    docs = render({"probe": {"allow": "10.1.0.0/16, 10.2.0.0/16"}})
    worker = named(docs, "Deployment", "lbhealth-worker")["spec"]["template"]["spec"]["containers"][0]
    assert env_of(worker)["LBHEALTH_PROBE_ALLOW"] == "10.1.0.0/16, 10.2.0.0/16"
    egress = named(docs, "NetworkPolicy", "lbhealth-worker")["spec"]["egress"]
    assert {"to": [{"ipBlock": {"cidr": "10.1.0.0/16"}}, {"ipBlock": {"cidr": "10.2.0.0/16"}}]} in egress
    # the probe collector reads that variable: the CIDRs it allows are the ones the policy opens
    monkeypatch.setenv(ALLOW_ENV, env_of(worker)["LBHEALTH_PROBE_ALLOW"])
    allowed = allow_list(State(target=Target.parse("shop/web"), options={}))
    assert [{"ipBlock": {"cidr": str(net)}} for net in allowed] == egress[-1]["to"]
    assert not named(docs, "NetworkPolicy", "lbhealth-worker")["spec"].get("ingress")  # nothing may connect to a worker


def test_notes_give_the_next_steps():
    text = notes()
    assert "create secret generic lbhealth-slack" in text and "/slack/events" in text
    forward = next(line for line in text.splitlines() if "port-forward" in line)
    assert forward.rstrip().endswith("&")  # port-forward blocks: a command after `&&` would never run
    assert "pod-security.kubernetes.io/enforce=privileged" in notes({"nodeChecks": {"enabled": True, "namespace": "lbhealth-node"}})
    assert "pod-security" not in text
    assert "terminates TLS" in notes({"ingress": {"enabled": True, "host": "lbhealth.example.com"}})
    assert "terminates TLS" not in notes(SCENARIOS["irsa"])  # a TLS Secret is named there


def test_the_api_server_egress_is_its_endpoints_address_and_port():
    values = {"fixes": {"enabled": True}, "networkPolicy": {"apiServerPorts": [60002], "apiServerCidrs": ["169.254.128.0/24"]}}
    docs = render(values)
    rule = {"ports": [{"port": 60002, "protocol": "TCP"}], "to": [{"ipBlock": {"cidr": "169.254.128.0/24"}}]}
    for name in ("lbhealth-worker", "lbhealth-writer"):
        assert rule in named(docs, "NetworkPolicy", name)["spec"]["egress"], name
    default = named(render(), "NetworkPolicy", "lbhealth-worker")["spec"]["egress"]
    assert {"ports": [{"port": 443, "protocol": "TCP"}, {"port": 6443, "protocol": "TCP"}]} in default


def test_chart_version_and_default_image_follow_the_project_version():
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    chart = helm.Chart.load(CHART)
    assert chart.version == version and chart.metadata["appVersion"] == version
    for name, spec in pod_specs(render()).items():
        if name != "lbhealth-redis":
            assert spec["containers"][0]["image"] == f"ghcr.io/example/lbhealth:{version}", name


def uncovered(values: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Keys of `values` the schema does not name (below a free-form object, anything goes)."""
    if isinstance(values, list):
        return [p for v in values for p in uncovered(v, schema.get("items", {}), path + "[]")]
    if not isinstance(values, dict) or "properties" not in schema:
        return []
    out = [f"{path}{k}" for k in values if k not in schema["properties"]]
    return out + [p for k, v in values.items() if k in schema["properties"] for p in uncovered(v, schema["properties"][k], f"{path}{k}.")]


def test_values_schema_covers_every_value_and_every_value_is_documented():
    schema = json.loads((CHART / "values.schema.json").read_text())
    defaults = helm.Chart.load(CHART).values
    assert uncovered(defaults, schema) == []
    for scenario in SCENARIOS.values():
        assert uncovered(scenario, schema) == []
    # every object the schema names is closed, unless it is one of Kubernetes's own free-form maps
    free = {"global", "severity", "requests", "limits", "nodeSelector", "affinity", "annotations", "labels", "podAnnotations",
            "tolerations[]", "ingressFrom[]"}

    def open_objects(node: dict[str, Any], path: str) -> list[str]:
        closed = node.get("type") != "object" or node.get("additionalProperties") is False
        out = [] if closed or path.rsplit(".", 1)[-1] in free else [path]
        for key, child in node.get("properties", {}).items():
            out += open_objects(child, f"{path}.{key}" if path else key)
        return out + (open_objects(node["items"], path + "[]") if isinstance(node.get("items"), dict) else [])

    assert [p for p in open_objects(schema, "") if p] == []
    # a comment above every top-level key of values.yaml says what it is
    lines = (CHART / "values.yaml").read_text().splitlines()
    undocumented = [line for i, line in enumerate(lines) if re.match(r"^[a-zA-Z]\w*:", line) and not lines[i - 1].startswith("#")]
    assert undocumented == []


CHART_SET = {"cloud_writes", "sns_topics", "tencent_webhook_secret", "tencent_basic_auth"}  # from other values / Secrets


def model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation (Model, list[Model], Model | None), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((m for a in typing.get_args(annotation) if (m := model_of(a))), None)


def schema_vs_model(node: dict[str, Any], model: type[BaseModel], path: str, skip: set[str] = frozenset()) -> list[str]:
    fields = set(model.model_fields) - skip
    out = [f"{path}: schema {sorted(set(node['properties']) - fields)}, {model.__name__} {sorted(fields - set(node['properties']))}"] \
        if set(node["properties"]) != fields or node.get("additionalProperties") is not False else []
    for name in fields & set(node["properties"]):
        inner = model_of(model.model_fields[name].annotation)
        child = node["properties"][name]
        if inner is not None:
            out += schema_vs_model(child.get("items", child), inner, f"{path}.{name}")
    return out


def test_the_config_schema_is_the_bots_config_file():
    """config is lbhealth.yaml: the schema names exactly what bot.settings.FileConfig reads (but what the
    chart sets from other values or Secrets), so a key the bot would reject fails at install."""
    schema = json.loads((CHART / "values.schema.json").read_text())["properties"]["config"]
    assert schema_vs_model(schema, FileConfig, "config", CHART_SET) == []
    assert schema["properties"]["enabled_fixes"]["items"]["enum"] == list(FIX_IDS)
    chart = helm.Chart.load(CHART)
    for values in ({"config": {"tencent_webhook_secret": "in-a-configmap"}}, {"config": {"clusters": [{"name": "a", "channels": ["#ops"]}]}},
                   {"config": {"enabled_fixes": ["FIX-EVERYTHING"]}}, {"config": {"approval": {"two_persons": False}}}):
        with pytest.raises(helm.HelmValuesError):
            chart.validate_schema(values)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_rendered_config_is_one_the_bot_loads(scenario, tmp_path):
    config = named(render(SCENARIOS[scenario]), "ConfigMap", "lbhealth-config")["data"]["lbhealth.yaml"]
    path = tmp_path / "lbhealth.yaml"
    path.write_text(config)
    loaded = load_file_config(path)
    assert loaded.clusters and loaded.cloud_writes is bool(SCENARIOS[scenario].get("fixes", {}).get("cloudWrites"))


def test_the_policy_files_the_values_and_readme_name_exist():
    for doc in (CHART / "values.yaml", ROOT / "deploy" / "README.md"):
        named_files = set(re.findall(r"(?:deploy/)?((?:iam|cam)-policy-(?:read|write)\.json)", doc.read_text()))
        assert named_files == {"iam-policy-read.json", "iam-policy-write.json", "cam-policy-read.json", "cam-policy-write.json"}, doc
        for name in named_files:
            assert (ROOT / "deploy" / name).is_file(), name


def test_the_readme_values_files_validate_and_render():
    blocks = re.findall(r"```yaml\n(.*?)```", (ROOT / "deploy" / "README.md").read_text(), re.S)
    chart = helm.Chart.load(CHART)
    clouds = set()
    for block in blocks:
        values = yaml.safe_load(block)
        chart.validate_schema(values)
        docs = render(values)
        for doc in docs:
            if (doc["apiVersion"], doc["kind"]) not in CRD_KINDS:
                kubernetes_validate.validate(doc, KUBE_VERSIONS[-1], strict=True)
        clouds |= {c.get("cloud") for c in values.get("config", {}).get("clusters", [])}
        for ingress in of_kind(docs, "Ingress"):  # Slack calls only https URLs: TLS at the Ingress or the ALB
            annotations = ingress["metadata"].get("annotations", {})
            assert ingress["spec"].get("tls") or (annotations.get("alb.ingress.kubernetes.io/certificate-arn")
                                                  and "HTTPS" in annotations.get("alb.ingress.kubernetes.io/listen-ports", "")), block
    assert {"aws", "tencent"} <= clouds and len(blocks) >= 4  # minimal AWS, minimal Tencent, fixes, external Redis


def test_every_variable_the_chart_sets_is_one_the_code_reads():
    """A misspelt variable would be ignored silently: each name the chart puts into an lbhealth
    container is a Settings field or a name the code reads from os.environ."""
    from bot.settings import Settings

    source = "\n".join(p.read_text() for d in ("bot", "checks") for p in (ROOT / d).rglob("*.py"))
    read = {name.upper() for name in Settings.model_fields} | set(re.findall(r"""environ(?:\.get)?[(\[]\s*["']([A-Z0-9_]+)["']""", source))
    read |= set(re.findall(r"""^[A-Z_]*_ENV\s*=\s*["']([A-Z0-9_]+)["']""", source, re.M))  # os.environ.get(ALLOW_ENV)
    for scenario in SCENARIOS.values():
        for name, spec in pod_specs(render(scenario)).items():
            if name == "lbhealth-redis":
                continue  # redis-server's own shell reads REDIS_PASSWORD
            set_here = set(env_of(spec["containers"][0]))
            assert set_here and set_here <= read, (name, sorted(set_here - read))
    # and the keys of the Secrets the chart writes, which reach the containers through envFrom
    docs = render({"slack": {"botToken": "xoxb-1", "signingSecret": "s", "appToken": "xapp-1"},
                   "webhooks": {"tencentSecret": "t", "eventbridgeSecret": "e"}})
    from_secrets = {e["secretRef"]["name"] for spec in pod_specs(docs).values() for e in spec["containers"][0].get("envFrom", [])}
    keys = {k for d in of_kind(docs, "Secret") if d["metadata"]["name"] in from_secrets for k in d["stringData"]}
    assert len(keys) == 5 and keys <= read, sorted(keys - read)
